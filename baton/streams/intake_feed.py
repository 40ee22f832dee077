"""The intake's records, handed over by Faust's conductor a fetch at a time.

A Faust agent receives each record through the conductor (decode into an
Event, a channel queue), the stream's iterator (tracking, sensors, the
current event, one ack per record) and, for batches, ``take``'s buffer with
its own task and timer. A bare agent that only counts records spends 75-90 µs
per record on this machine, fetch included; the worker read up to 32 % more
records per second without it (docs/benchmarks.md, round 6).

The feed takes the place of the channels for the intake's topics only: the
conductor's handler for those partitions appends the record to a list, and the
intake takes everything gathered since its last batch at once. What the stream
did per record is done per batch, the same way:

- records fetched before a rebalance are dropped, not handled (the flow is
  suspended, or the consumer generation changed): Faust seeks to the committed
  offsets afterwards and they are read again;
- a record is tracked (pending acknowledgement, Faust's sensors) when the
  intake takes it, and acknowledged after its batch was handled and Kafka
  acknowledged the batch's output, batches in order, so no offset is committed
  past a record whose output may be lost;
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
from collections import deque
from typing import Any, Callable

from baton.streams.intake_delay import epoch_of

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
        # Handled batches waiting for Kafka to acknowledge their output, in order.
        self._unsent: deque[tuple[list[Record], asyncio.Future]] = deque()
        self._refused = False
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
        flow = app.flow_control
        await app.producer.buffer.wait_until_ebb()
        while not flow.is_active() or len(self._pending) >= self.max_pending:
            if not flow.is_active():
                await flow.acquire()
            else:
                self._room.clear()
                await self._room.wait()
        if not self._pending:
            self._fetched_at = time.monotonic()
        self._pending.append(message)
        self._ready.set()

    def clear(self) -> None:
        """Drop what waits, when Faust's flow control suspends for a rebalance: it is read again
        from the committed offsets. Not on a resume (mode clears its queues then too): what
        arrived after the suspension ended was fetched after the seek, and dropping it would
        leave a hole in the partition's offsets."""
        if self.app.flow_control.is_active():
            return
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
        return self._admit(messages), epoch_of(arrived) if arrived is not None else None

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
        self._stamp_monitor(batch)
        return batch

    def _stamp_monitor(self, batch: list[Record]) -> None:
        # What a stream tells Faust's monitor per event, per batch: its stall detector reports a
        # partition with lag whose stream has not taken an event for a while.
        monitor = getattr(self.app, "monitor", None)
        inbound = getattr(monitor, "stream_inbound_time", None)
        if inbound is None or not batch:
            return
        now = time.monotonic()
        for tp in {record.message.tp for record in batch}:
            inbound[tp] = now
        monitor.events_total += len(batch)

    def done_when_sent(self, batch: list[Record], sent: asyncio.Future | None) -> None:
        """Acknowledge ``batch`` once ``sent`` (Kafka's acknowledgement of the output it caused)
        succeeded, and only after every earlier batch. After an output Kafka refused, or one
        that could not be queued (``sent`` None: shutting down), nothing more is acknowledged:
        the worker stops and all of it is read again. (An acknowledged batch after an
        unacknowledged one would leave a hole Faust may commit past, faust-streaming#606.)"""
        if sent is None:
            self._refused = True
            return
        self._unsent.append((batch, sent))
        sent.add_done_callback(self._acknowledge_sent)

    def _acknowledge_sent(self, _: asyncio.Future) -> None:
        unsent = self._unsent
        while unsent and unsent[0][1].done():
            batch, sent = unsent.popleft()
            if sent.cancelled() or sent.exception() is not None:
                self._refused = True
            if not self._refused:
                self.done(batch)

    def done(self, batch: list[Record]) -> None:
        """Acknowledge a handled batch: its offsets may be committed."""
        consumer = self.app.consumer
        on_out = self.app.sensors.on_message_out
        for record in batch:
            message = record.message
            if message.ack(consumer):
                on_out(message.tp, message.offset, message)
