"""Faust's consumer hands each record to the streams without four tasks per record.

faust-streaming's ``Consumer._drain_messages`` (0.15.3) delivers every fetched
record with ``await self.wait_first(callback(message), self.suspend_flow.wait())``:
mode's ``wait_first`` wraps the callback, the suspend event, the stopped event
and the crashed event in four tasks and an ``asyncio.wait``, so each record
costs several turns of the event loop. Records of one fetch are delivered one
after the other, so the last waits for all those turns: on a worker busy with
Slack lanes and flush timers, measured at 1,000 events/s, a record reached the
intake p50 13 ms / p99 105 ms after it was produced, where a plain consumer in
another process read it after 2 / 15 ms (docs/benchmarks-latency-scale.md, round 5).

The callback (Faust's conductor) almost never has to wait: it waits only when
the flow is suspended for a rebalance, when Faust's producer buffer is full, or
when a stream's queue is full. So here its first step runs at once
(``eager_step``), and a callback that finishes in it costs nothing more. One
that has to wait is carried on in a task, raced against ``suspend_flow``
exactly as Faust does (a rebalance must not wait for a blocked delivery).
While the flow is suspended, Faust's own ``wait_first`` is used unchanged.

Installed by ``install()`` only over the exact function it was written
against (its source is compared), otherwise Faust's is kept and a warning
says so.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
from typing import Any, AsyncIterator, Coroutine, cast

log = logging.getLogger(__name__)

# sha256 of faust-streaming 0.15.3's Consumer._drain_messages source.
FAUST_DRAIN_SHA256 = "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"


def eager_step(coro: Coroutine[Any, Any, Any]) -> asyncio.Future | None:
    """Run ``coro``'s first step now. None when it finished there (its result is dropped,
    its exception raised); otherwise a future of the rest, carried on in a task.

    Cancelling the future cancels what the coroutine waits for, as ``Task.cancel`` does.
    """
    try:
        awaiting = coro.send(None)
    except StopIteration:
        return None
    loop = asyncio.get_running_loop()
    if awaiting is None:  # a bare yield (asyncio.sleep(0)): a task takes it from here
        return loop.create_task(coro)
    if not asyncio.isfuture(awaiting):
        coro.close()
        raise RuntimeError(f"eager_step: the coroutine yielded {awaiting!r}, not a future")
    return _carried_on(loop, coro, awaiting)


def _carried_on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any],
                awaiting: asyncio.Future) -> asyncio.Future:
    # The coroutine is suspended in ``await awaiting``. A task resumes it once ``awaiting``
    # is done, as a task's own step would (resuming it earlier raises "await wasn't used
    # with future"); ``outer`` reports the task's outcome.
    outer: asyncio.Future = loop.create_future()
    task: list[asyncio.Task] = []

    def resume(_: asyncio.Future) -> None:
        resumed = loop.create_task(coro)
        task.append(resumed)
        if outer.cancelled():  # cancelled after ``awaiting`` was done: it must not carry on
            resumed.cancel()
        resumed.add_done_callback(report)

    def report(done: asyncio.Task) -> None:
        if outer.done():
            if not done.cancelled():
                done.exception()  # retrieved: the caller stopped waiting for it
            return
        if done.cancelled():
            outer.cancel()
        elif done.exception() is not None:
            outer.set_exception(cast(BaseException, done.exception()))
        else:
            outer.set_result(done.result())

    def cancelled(_: asyncio.Future) -> None:
        if not outer.cancelled():
            return
        if task:
            task[0].cancel()
        else:
            awaiting.cancel()  # what a task waiting on it would do; the resumed coroutine sees CancelledError

    awaiting.add_done_callback(resume)
    outer.add_done_callback(cancelled)
    return outer


async def _drain_messages(self, fetcher) -> None:  # pragma: no cover - Faust's loop, run by every e2e test
    """faust-streaming 0.15.3's ``Consumer._drain_messages``, the delivery made eager (one change, marked)."""
    from mode import Service

    from faust.transport.consumer import CONSUMER_FETCHING

    callback = self.callback
    getmany = self.getmany
    consumer_should_stop = cast(Service, self)._stopped.is_set
    fetcher_should_stop = cast(Service, fetcher)._stopped.is_set

    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    flag_consumer_fetching = CONSUMER_FETCHING
    set_flag = self.diag.set_flag
    unset_flag = self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for
    flow_suspended = self.suspend_flow.is_set

    yield_every = 100
    num_since_yield = 0
    sleep = asyncio.sleep

    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(flag_consumer_fetching)
            ait = cast(AsyncIterator, getmany(timeout=1.0))

            # Sleeping because sometimes getmany is called in a loop
            # never releasing to the event loop
            await self.sleep(0)
            if not self.should_stop:
                async for tp, message in ait:
                    num_since_yield += 1
                    if num_since_yield > yield_every:
                        await sleep(0)
                        num_since_yield = 0

                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        gap = offset - (r_offset or 0)
                        # We have a gap in income messages
                        if gap > 1 and r_offset:
                            acks_enabled = acks_enabled_for(message.topic)
                            if acks_enabled:
                                await self._add_gap(tp, r_offset + 1, offset)
                        if commit_every is not None:
                            if self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                        # --- Baton's change: the callback's first step at once, not in a task ---
                        if flow_suspended():
                            await self.wait_first(callback(message), self.suspend_flow.wait())
                        else:
                            rest = eager_step(callback(message))
                            if rest is not None:
                                await self.wait_first(rest, self.suspend_flow.wait())
                        # --- end of Baton's change ---
                        set_read_offset(tp, offset)
                    else:
                        self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r", offset, message.key, message.value)
                unset_flag(flag_consumer_fetching)

    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            # we're already stopping so ignore
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            # we're already stopping so ignore
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(flag_consumer_fetching)


def faust_drain_source_sha256() -> str:
    from faust.transport.consumer import Consumer

    return hashlib.sha256(inspect.getsource(Consumer._drain_messages).encode()).hexdigest()


def install() -> bool:
    """Put the eager drain in place of Faust's; False (and a warning) if Faust's is not the one expected."""
    if installed():
        return True
    from faust.transport.consumer import Consumer

    try:
        found = faust_drain_source_sha256()
    except (OSError, TypeError) as exc:
        log.warning("cannot read Faust's Consumer._drain_messages (%s): keeping it, records reach the "
                    "intake later", exc)
        return False
    if found != FAUST_DRAIN_SHA256:
        log.warning("Faust's Consumer._drain_messages is not the one Baton's eager drain was written against "
                    "(faust-streaming 0.15.3): keeping Faust's; records reach the intake later")
        return False
    Consumer._drain_messages = _drain_messages
    return True


def installed() -> bool:
    """Whether Faust's consumer runs the eager drain in this process (``/metrics.json``: ``eager_drain``)."""
    from faust.transport.consumer import Consumer

    return Consumer._drain_messages is _drain_messages
