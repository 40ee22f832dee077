"""The dispatcher: a bounded queue in front of every destination, and the delivery pipeline.

The stages, in order, for each (notification, channel) pair::

    submit ─ backpressure (bounded queue) ─ fan out: one lane per destination
      lane: rate limit ─ batch (digest under pressure) ─ dedup (ledger) ─ send ─ retry ─ mark delivered
      every attempt ─ on_delivery(Delivery)

A lane is one destination (``slack:#sales``, ``email:cfo@example.com``) with
its own queue, rate limiter and worker task: a Slack outage stalls only its
lanes, and a full queue stalls ``submit`` (the caller's agent), never the
stream that produced the notifications.

The ledger is asked before each send and marked only after the channel
confirmed it. A crash between the two (a send in flight, or confirmed but not
yet marked) is the one window for a duplicate: at most one per crash, per
channel the crash hit. ``docs/notifications.md`` spells it out.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Awaitable, Callable, Mapping

from prometheus_client import CollectorRegistry

from baton.notify.channel import Channel, build_channels
from baton.notify.console import ConsoleChannel
from baton.notify.digest import take_batch
from baton.notify.ledger import DeliveryLedger
from baton.notify.metrics import DispatcherMetrics
from baton.notify.outcome import Delivered, Outcome, Permanent, Retryable
from baton.notify.ratelimit import RateLimiter
from baton.notify.redact import Redactor
from baton.notify.retry import RetryPolicy
from baton.notify.routing import parse_channel
from baton.settings import DeliverySettings, Settings
from baton.streams.records import Delivery, Notification

log = logging.getLogger(__name__)

OnDelivery = Callable[[Delivery], Awaitable[None]]


class DispatcherClosed(RuntimeError):
    """submit() after stop()."""


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(eq=False)
class _Ticket:
    """One submitted notification: done when every channel has a final status."""

    notification: Notification
    remaining: int
    future: asyncio.Future[dict[str, str]]
    results: dict[str, str] = field(default_factory=dict)


@dataclass(eq=False)
class _Job:
    """One notification on one channel. Tickets of duplicate submits wait on the same job."""

    notification: Notification
    channel: str
    tickets: list[_Ticket]


@dataclass(eq=False)
class _Lane:
    channel: str
    kind: str
    destination: str
    limiter: RateLimiter
    queue: deque[_Job] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Dispatcher:
    """Deliver notifications on their channels, at most ``queue_size`` in flight.

    ``channels`` maps a kind (``"slack"``, ``"email"``, ``"console"``) to its
    ``Channel``; a channel string whose kind is missing or not configured for
    its destination is printed by the ``console`` channel instead.
    """

    def __init__(
        self,
        channels: Mapping[str, Channel],
        *,
        ledger: DeliveryLedger,
        on_delivery: OnDelivery | None = None,
        settings: DeliverySettings | None = None,
        registry: CollectorRegistry | None = None,
        redactor: Redactor | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.channels = dict(channels)
        self.channels.setdefault("console", ConsoleChannel())
        self.ledger = ledger
        self.on_delivery = on_delivery
        self.settings = settings or DeliverySettings()
        self.policy = RetryPolicy(self.settings.retry, rng)
        self.redactor = redactor or Redactor()
        self.metrics = DispatcherMetrics(registry=registry or CollectorRegistry())
        self.metrics.set_capacity(self.settings.queue_size)
        self._capacity = asyncio.Semaphore(self.settings.queue_size)
        self._lanes: dict[str, _Lane] = {}
        self._inflight: dict[tuple[str, str], _Job] = {}
        self._tickets: set[_Ticket] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._stopped = asyncio.Event()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        ledger: DeliveryLedger,
        on_delivery: OnDelivery | None = None,
        registry: CollectorRegistry | None = None,
    ) -> "Dispatcher":
        redactor = Redactor.from_settings(settings)
        return cls(
            build_channels(settings, redactor=redactor),
            ledger=ledger,
            on_delivery=on_delivery,
            settings=settings.delivery,
            registry=registry,
            redactor=redactor,
        )

    # --- life cycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Nothing to warm up: lanes start on the first message for their destination."""
        if self._stopped.is_set():
            raise DispatcherClosed("a stopped dispatcher does not restart; build a new one")

    async def run(self) -> None:
        """Run until ``stop()``: for a Faust ``app.task`` or a plain ``asyncio`` task."""
        await self.start()
        await self._stopped.wait()

    async def stop(self, drain: bool = True, timeout: float | None = None) -> None:
        """Refuse new work; with ``drain``, first wait (up to ``timeout``) for what is queued."""
        self._closed = True
        if drain and self._tickets:
            try:
                await asyncio.wait_for(self._idle.wait(), self.settings.drain_timeout_seconds if timeout is None else timeout)
            except asyncio.TimeoutError:
                log.warning("stopping with %d notifications not delivered", len(self._tickets))
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        unfinished = list(self._tickets)
        for ticket in unfinished:
            if not ticket.future.done():
                ticket.future.cancel()
        self._tickets.clear()
        for _ in unfinished:
            self._capacity.release()  # wakes submit() calls blocked on a full queue: they raise DispatcherClosed
        self._inflight.clear()
        self._lanes.clear()
        self._idle.set()
        for channel in self.channels.values():
            await channel.aclose()
        self._stopped.set()

    async def join(self) -> None:
        """Wait until every submitted notification is finished."""
        await self._idle.wait()

    # --- intake ----------------------------------------------------------------------

    async def submit(self, notification: Notification) -> asyncio.Future[dict[str, str]]:
        """Queue a notification on all its channels; waits while the queue is full.

        Returns a future of ``{channel: final status}`` (``delivered``,
        ``printed``, ``failed``, ``skipped-duplicate``): a caller that must not
        lose a notification acknowledges its Kafka record once this resolves.
        """
        if self._closed:
            raise DispatcherClosed("the dispatcher is stopped")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, str]] = loop.create_future()
        channels = list(dict.fromkeys(notification.channels))
        if not channels:
            future.set_result({})
            return future
        if self._capacity.locked():
            self.metrics.backpressure()
        await self._capacity.acquire()
        if self._closed:
            self._capacity.release()
            raise DispatcherClosed("the dispatcher is stopped")
        ticket = _Ticket(notification, len(channels), future)
        self._tickets.add(ticket)
        self._idle.clear()
        self.metrics.depth(+1)
        for channel in channels:
            job = self._inflight.get((notification.id, channel))
            if job is not None:
                job.tickets.append(ticket)  # the same id is already on its way there: wait for it
                continue
            job = _Job(notification, channel, [ticket])
            self._inflight[(notification.id, channel)] = job
            lane = self._lane(channel)
            lane.queue.append(job)
            lane.wakeup.set()
            self.metrics.destination_depth(channel, len(lane.queue))
        return future

    async def try_submit(self, notification: Notification) -> asyncio.Future[dict[str, str]] | None:
        """``submit`` if the queue has room now; None if it would have to wait, or is stopped.

        For a caller that has another way to deliver the notification later (the hand-over:
        the copy in Kafka) and must not pile up waiting work while a channel is down.
        """
        if self._closed or self._capacity.locked():
            return None
        return await self.submit(notification)  # not locked: its acquire() returns without waiting

    async def deliver(self, notification: Notification) -> dict[str, str]:
        """``submit`` and wait for the outcome."""
        return await (await self.submit(notification))

    # --- lanes -----------------------------------------------------------------------

    def _lane(self, channel: str) -> _Lane:
        lane = self._lanes.get(channel)
        if lane is None:
            kind, destination = parse_channel(channel)
            rate = getattr(self.settings.rate_limits, kind, 0.0)
            lane = _Lane(channel, kind, destination, RateLimiter(rate))
            lane.task = asyncio.create_task(self._work(lane), name=f"baton-notify:{channel}")
            self._lanes[channel] = lane
        return lane

    def _channel_for(self, lane: _Lane) -> tuple[Channel, str]:
        """The channel that serves a lane, and why it is the console when it is."""
        channel = self.channels.get(lane.kind)
        if lane.kind == "console":
            return self.channels["console"], ""
        if channel is None:
            return self.channels["console"], f"no {lane.kind} channel"
        if not channel.configured(lane.destination):
            return self.channels["console"], f"{lane.kind} not configured"
        return channel, ""

    async def _work(self, lane: _Lane) -> None:
        while True:
            while not lane.queue:
                lane.wakeup.clear()
                await lane.wakeup.wait()
            await lane.limiter.wait()
            # Taken after the wait: what piled up meanwhile is the pressure that makes a digest.
            batch = take_batch(lane.queue, self.settings.digest_threshold, self.settings.digest_max)
            self.metrics.destination_depth(lane.channel, len(lane.queue))
            try:
                await self._deliver(lane, batch)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a bug must not wedge the lane nor leave callers waiting forever
                log.exception("delivery to %s failed unexpectedly", lane.channel)
                for job in batch:
                    if job.tickets:
                        await self._report(job, 0, "failed", f"internal error: {type(e).__name__}")
                        self._finish(job, "failed")

    async def _deliver(self, lane: _Lane, batch: list[_Job]) -> None:
        jobs: list[_Job] = []
        for job in batch:
            if await self._already_delivered(job):
                await self._report(job, 0, "skipped-duplicate", "already delivered")
                self._finish(job, "skipped-duplicate")
            else:
                jobs.append(job)
        if not jobs:
            return
        channel, note = self._channel_for(lane)
        notes = [j.notification for j in jobs]
        digest = len(jobs) if len(jobs) > 1 else None
        if digest:
            self.metrics.digest(lane.kind)
        attempt = 0
        while True:
            attempt += 1
            self.metrics.attempts += 1
            outcome = await self._attempt(channel, lane.destination, notes, note)
            lane.limiter.sent()
            if isinstance(outcome, Delivered):
                status = "printed" if channel.kind == "console" else "delivered"
                # The marks (a digest's together) and the delivery records are queued in the
                # producer in one go, so that Kafka gets them in one produce request; the marks'
                # acknowledgement is awaited before anything is acknowledged and before this
                # lane sends again (what bounds a crash to one repeat per destination).
                marks = [asyncio.ensure_future(self._mark(job)) for job in jobs]
                await asyncio.sleep(0)  # let the marks reach the producer first
                for job in jobs:
                    await self._report(job, attempt, status, note or outcome.detail, digest=digest)
                await asyncio.gather(*marks)
                for job in jobs:
                    self._finish(job, status)
                return
            error = self.redactor.clean(outcome.error)
            if self.policy.give_up(outcome, attempt):
                kind = "permanent" if isinstance(outcome, Permanent) else "retryable"
                for job in jobs:
                    await self._report(job, attempt, "failed", f"{kind}: {error}", digest=digest)
                    self._finish(job, "failed")
                return
            delay = self.policy.delay(outcome, attempt)
            for job in jobs:
                await self._report(job, attempt, "retrying", error, digest=digest, next_in=delay)
            lane.limiter.hold(delay)
            await lane.limiter.wait()

    async def _attempt(self, channel: Channel, destination: str, notes: list[Notification], note: str) -> Outcome:
        try:
            if note and isinstance(channel, ConsoleChannel):
                return await channel.send(destination, notes, note=note)
            return await channel.send(destination, notes)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a channel should classify its errors; an unexpected one is worth a retry
            log.warning("%s channel raised %s", channel.kind, type(e).__name__)
            return Retryable(f"unexpected error: {type(e).__name__}")

    async def _already_delivered(self, job: _Job) -> bool:
        try:
            return await self.ledger.delivered(job.notification.id, job.channel)
        except Exception:  # an unreadable ledger risks a duplicate; skipping would risk a loss
            log.exception("could not read the ledger for %s on %s", job.notification.id, job.channel)
            return False

    async def _mark(self, job: _Job) -> None:
        try:
            await self.ledger.mark_delivered(job.notification.id, job.channel)
        except Exception:  # the message is out; failing here only widens the duplicate window
            log.exception("could not record %s on %s as delivered", job.notification.id, job.channel)

    async def _report(
        self, job: _Job, attempt: int, status: str, detail: str, *, digest: int | None = None, next_in: float | None = None
    ) -> None:
        kind, _ = parse_channel(job.channel)
        self.metrics.outcome(kind, status)
        if self.on_delivery is None:
            return
        record = Delivery(
            notification_id=job.notification.id,
            channel=job.channel,
            attempt=attempt,
            status=status,  # type: ignore[arg-type]
            detail=detail,
            at=_now_iso(),
            digest_size=digest,
            next_attempt_in_seconds=round(next_in, 3) if next_in is not None else None,
        )
        try:
            await self.on_delivery(record)
        except Exception:  # reporting is best effort: never lose the delivery over it
            log.exception("on_delivery failed for %s on %s", job.notification.id, job.channel)

    def _finish(self, job: _Job, status: str) -> None:
        self._inflight.pop((job.notification.id, job.channel), None)
        for ticket in job.tickets:
            ticket.results[job.channel] = status
            ticket.remaining -= 1
            if ticket.remaining == 0 and ticket in self._tickets:
                self._tickets.discard(ticket)
                self._capacity.release()
                self.metrics.depth(-1)
                if not ticket.future.done():
                    ticket.future.set_result(ticket.results)
        job.tickets = []
        if not self._tickets:
            self._idle.set()
