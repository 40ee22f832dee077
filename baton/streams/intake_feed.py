"""The intake's records, handed over by Faust's conductor a fetch at a time.

A Faust agent receives each record through the conductor (decode into an
Event, a channel queue), the stream's iterator (tracking, sensors, the
current event, one ack per record) and, for batches, ``take``'s buffer with
its own task and timer: measured at ~70 µs per record on this machine, as much
as all of Baton's own work on an event, and a batching window that a record
waits out even when the intake is idle (docs/benchmarks.md, round 6).

The feed takes the place of the channels for the intake's topics only: the
conductor's handler for those partitions appends the record to a list, and the
intake takes everything gathered since its last batch at once. What the stream
did per record is done per batch, the same way:

- records fetched before a rebalance are dropped, not handled (the flow is
  suspended, or the consumer generation changed): Faust seeks to the committed
  offsets afterwards and they are read again;
- a record is tracked (pending acknowledgement, Faust's sensors) when the
  intake takes it, and acknowledged after its batch was handled and its output
  queued, so no offset is committed past a record whose output may be lost;
- the list is bounded: a full list makes the conductor wait (and so the
  consumer stop fetching), as a full channel queue does.

Faust's consumer subscribes to the topics, assigns partitions, recovers the
tables and commits offsets as before; only the per-record delivery changes.
The conductor's private ``_build_handler`` is what the feed hooks into; if a
Faust version lacks it, ``install`` says so and the caller keeps the agent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

log = logging.getLogger(__name__)


class Record:
    """One record of a batch, as the intake and Faust's table writes see it: ``.message``
    is Faust's message (topic, partition, offset, key, value, timestamp)."""

    __slots__ = ("message", "__weakref__")  # weakref: Faust keeps the current event by weak reference

    def __init__(self, message) -> None:
        self.message = message


class IntakeFeed:
    """Records of ``topics`` from Faust's conductor to the intake, in batches.

    ``max_pending``: how many records may wait for the intake before the conductor
    waits (and the consumer stops fetching); ``window``: how long the intake, idle
    when a record arrives, waits for more before it starts (0: at once).
    """

    def __init__(self, app, topics: set[str], *, max_pending: int = 4096, window: float = 0.0) -> None:
        self.app = app
        self.topics = frozenset(topics)
        self.max_pending = max_pending
        self.window = window
        self._pending: list = []
        self._fetched_at: float | None = None  # monotonic time the oldest pending record arrived
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    # --- Faust's side -------------------------------------------------------------------

    def install(self) -> bool:
        """Route the feed's topics to the feed in Faust's conductor; False if this Faust cannot."""
        conductor = self.app.topics
        build = getattr(conductor, "_build_handler", None)
        if build is None:
            log.warning("Faust's conductor has no _build_handler: the intake runs as a Faust agent")
            return False

        def build_handler(tp, channels) -> Callable[[Any], Any]:
            return self._on_message if tp.topic in self.topics else build(tp, channels)

        conductor._build_handler = build_handler
        # Flow control clears the channel queues when partitions are revoked; this list too.
        self.app.flow_control.manage_queue(self)
        return True

    async def _on_message(self, message) -> None:
        # The conductor's handler for the feed's partitions (Faust's own waits first:
        # a suspended flow during a rebalance, a full producer buffer).
        app = self.app
        if not app.flow_control.is_active():
            await app.flow_control.acquire()
        await app.producer.buffer.wait_until_ebb()
        while len(self._pending) >= self.max_pending:
            self._room.clear()
            await self._room.wait()
        if not self._pending:
            self._fetched_at = time.monotonic()
        self._pending.append(message)
        self._ready.set()

    def clear(self) -> None:
        """Drop what waits (Faust's flow control, when partitions are revoked): it is read again."""
        self._pending = []
        self._fetched_at = None
        self._ready.clear()
        self._room.set()

    # --- the intake's side --------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._pending)

    async def take(self, max_records: int) -> tuple[list[Record], float | None]:
        """Up to ``max_records`` of the records gathered since the last batch (waiting for at least
        one), and when the oldest of them arrived (epoch seconds). Records fetched before a
        rebalance are left out."""
        if not self._pending:
            self._ready.clear()
            await self._ready.wait()
            if self.window > 0:
                await asyncio.sleep(self.window)
        arrived = self._fetched_at
        if len(self._pending) <= max_records:
            messages, self._pending = self._pending, []
            self._fetched_at = None
            self._ready.clear()
        else:  # the rest waits for the next batch (its arrival: no later than this batch's)
            messages, self._pending = self._pending[:max_records], self._pending[max_records:]
        self._room.set()
        fetched_at = time.time() - (time.monotonic() - arrived) if arrived is not None else None
        return self._admit(messages), fetched_at

    def _admit(self, messages: list) -> list[Record]:
        app = self.app
        if not app.flow_control.is_active():
            return []
        generation = app.consumer_generation_id
        consumer = app.consumer
        track = consumer.track_message
        batch = []
        for message in messages:
            if message.generation_id != generation:
                continue  # fetched before the rebalance: read again from the committed offset
            message.tracked = True
            message.incref()
            track(message)
            batch.append(Record(message))
        return batch

    def done(self, batch: list[Record]) -> None:
        """Acknowledge a handled batch: its offsets may be committed."""
        consumer = self.app.consumer
        on_out = self.app.sensors.on_message_out
        for record in batch:
            message = record.message
            if message.ack(consumer):
                on_out(message.tp, message.offset, message)
