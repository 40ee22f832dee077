"""The hand-over: notifications the intake wrote go to the delivery lanes in the same process.

Without it a notification reaches its lane only through Kafka: the intake produces it
to ``m2c.notifications`` and the delivery agent reads it back through Faust's fetch,
conductor and consumer thread: a delivery stage of 12–52 ms at the median at 1,000
events/s on this project's busy machine (docs/benchmarks-latency-scale.md, rounds 11, 12). Instead, as an intake batch's output
is sent to Kafka, the worker that delivers those partitions starts on them.

Nothing is lost or repeated more for it:

- the input behind a batch is acknowledged only once Kafka has all of its output, so a
  crash (or a batch Kafka refuses, which stops the worker) before then reads the input
  again, and the same notification ids are written again: the ledger skips what was
  delivered, as it does for any copy;
- the copy read back from Kafka is still the one acknowledged, once the delivery handed
  over for it is finished (its ledger marks in Kafka), and it makes no second pass
  through the dispatcher (no ``skipped-duplicate`` record). The hand-over is started
  before the batch is queued in the producer, so its copy cannot be read back first;
- the lanes are the same, so a crash still repeats at most the one send in flight per
  destination.

A notification is handed over only

- if this worker delivers its partition of ``m2c.notifications`` and is not in a
  rebalance (``owns``): another worker delivers the rest;
- while the dispatcher has room: under backpressure (a channel down) the rest
  waits in Kafka, as it always did, instead of piling up in memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Callable, Protocol

from baton.notify.dispatcher import Dispatcher
from baton.streams.records import Notification

log = logging.getLogger(__name__)

# Ids remembered on each side until the other copy shows up: far more than are in
# flight between the hand-over and the fetch of the same record.
REMEMBERED_IDS = 10_000


class KeyedLedger(Protocol):
    """What the hand-over needs of ``TableLedger``: where a notification's marks go."""

    def remember(self, notification_id: str, key: bytes) -> None: ...

    def forget(self, notification_id: str) -> None: ...


class HandOver:
    def __init__(self, dispatcher: Dispatcher, ledger: KeyedLedger, owns: Callable[[bytes], bool],
                 *, remembered: int = REMEMBERED_IDS) -> None:
        """``owns(key)``: whether this worker delivers the ``m2c.notifications`` partition of ``key``, now."""
        self.dispatcher = dispatcher
        self.ledger = ledger
        self.owns = owns
        self.remembered = remembered
        # id -> the dispatcher's future for it: handed over, its copy in Kafka not yet read back.
        self._handed: OrderedDict[str, asyncio.Future] = OrderedDict()
        # ids the delivery agent read back and delivered itself: an id written again (a copy it
        # never saw handed over) is left to it.
        self._read: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task] = set()

    # --- the intake's side -------------------------------------------------------------

    def offer(self, notes: list[tuple[bytes, Notification]]) -> None:
        """Hand over ``(record key, notification)`` pairs whose records are about to be sent.

        The work runs in a task scheduled now, so before the producer's own task sends them."""
        task = asyncio.ensure_future(self._hand_over(notes))
        self._tasks.add(task)  # held: the loop keeps only a weak reference to a task
        task.add_done_callback(self._tasks.discard)

    async def _hand_over(self, notes: list[tuple[bytes, Notification]]) -> None:
        for key, notification in notes:
            nid = notification.id
            if nid in self._read:
                del self._read[nid]  # an earlier copy was read back and delivered by the agent
                continue
            if nid in self._handed or not self.owns(key):
                continue
            self.ledger.remember(nid, key)
            try:
                future = await self.dispatcher.try_submit(notification)
            except Exception:  # noqa: BLE001 - the copy in Kafka is delivered anyway
                log.exception("could not hand %s over; it is delivered from m2c.notifications", nid)
                future = None
            if future is None:  # no room (or stopping): this and the rest wait in Kafka, in order
                self.ledger.forget(nid)
                return
            future.add_done_callback(lambda _, nid=nid: self.ledger.forget(nid))
            self._keep(self._handed, nid, future)
            self.dispatcher.metrics.hand_over()

    # --- the delivery agent's side -----------------------------------------------------

    def take(self, notification_id: str) -> asyncio.Future | None:
        """For the copy read back from Kafka: the delivery handed over for it, if there is one
        (acknowledge the copy once it is done), else None (deliver the copy as usual)."""
        future = self._handed.pop(notification_id, None)
        if future is None:
            self._keep(self._read, notification_id, None)  # a later hand-over of it steps aside
        return future

    def _keep(self, ids: OrderedDict, notification_id: str, value) -> None:
        ids[notification_id] = value
        while len(ids) > self.remembered:
            # The oldest: its other copy is long overdue (another worker's, or never coming).
            # Forgetting it costs at most a skipped-duplicate record, never a message.
            ids.popitem(last=False)
