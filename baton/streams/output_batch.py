"""Output records sent as whole Kafka batches, one per topic partition.

Faust sends a record through several layers (a FutureMessage, the producer
buffer, aiokafka's per-record ``send``): about 100 µs each here, more than all
of Baton's own work on an event (docs/benchmarks.md). The intake and the
flush timers instead collect what they produce and hand it to aiokafka as
ready batches (``create_batch`` / ``send_batch``), a few µs per record.

The batches go into the producer that Faust flushes before it commits input
offsets; ``send`` also returns a future of their acknowledgement, because
that flush does not fail on a batch Kafka refused: the intake acknowledges
its input only once the output it caused is in Kafka. Partitions follow
murmur2 of the key, as Faust's and the Java client's default partitioner do.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from baton.streams.partitioning import expected_partition

Record = tuple[bytes | None, bytes | None]


class OutputBatch:
    """Records to send, grouped by (topic, partition) in the order they were added."""

    __slots__ = ("_records", "_on_sent")

    def __init__(self) -> None:
        self._records: dict[tuple[str, int | None], list[Record]] = {}
        self._on_sent: list[tuple[str, int, Callable[[int], None]]] = []

    def add(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        """Queue a record; without ``partition`` it goes where murmur2(key) says (keyless: the first)."""
        records = self._records.get((topic, partition))
        if records is None:
            records = self._records[(topic, partition)] = []
        records.append((key, value))

    def on_sent(self, topic: str, partition: int, callback: Callable[[int], None]) -> None:
        """Call ``callback(offset of the last record)`` once the records for ``topic[partition]`` are in Kafka."""
        self._on_sent.append((topic, partition, callback))

    def __len__(self) -> int:
        return sum(len(records) for records in self._records.values())

    async def send(self, producer, on_failure: Callable[[BaseException], None]) -> asyncio.Future:
        """Queue every record in ``producer`` (an AIOKafkaProducer); returns once all are queued,
        with a future that is done once Kafka acknowledged them all (its exception: the first
        batch Kafka refused).

        ``on_failure(exc)`` is called for a batch Kafka refused in the end (after the
        producer's own retries): the worker must stop rather than commit past it. Faust's
        flush before a commit does not tell a refused batch from a sent one, so input
        that caused these records is acknowledged only once the future succeeded.
        """
        callbacks = {(topic, partition): cb for topic, partition, cb in self._on_sent}
        self._on_sent = []
        records_by_tp = await self._partitioned(producer)
        failed = _failure_watch(on_failure)
        sent: list[asyncio.Future] = []
        for (topic, partition), records in records_by_tp.items():
            batch, in_batch = producer.create_batch(), 0
            for key, value in records:
                if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
                    sent.append(await producer.send_batch(batch, topic, partition=partition))
                    batch, in_batch = producer.create_batch(), 0
                    batch.append(key=key, value=value, timestamp=None)
                in_batch += 1
            last = await producer.send_batch(batch, topic, partition=partition)
            sent.append(last)
            callback = callbacks.get((topic, partition))
            if callback is not None:
                last.add_done_callback(_last_offset(in_batch, callback))
        for future in sent:
            future.add_done_callback(failed)
        return _all_of(sent)

    async def _partitioned(self, producer) -> dict[tuple[str, int], list[Record]]:
        taken, self._records = self._records, {}
        out: dict[tuple[str, int], list[Record]] = {}
        for (topic, partition), records in taken.items():
            if partition is not None:
                out.setdefault((topic, partition), []).extend(records)
                continue
            count = len(await producer.client._wait_on_metadata(topic))  # the topic's own partition count
            for key, value in records:
                p = expected_partition(key, count) if key else 0
                out.setdefault((topic, p), []).append((key, value))
        return out


def _all_of(futures: list[asyncio.Future]) -> asyncio.Future:
    """Done once every one of ``futures`` is; the first exception, if any (the rest are awaited)."""
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future = loop.create_future()
    left = len(futures)
    if not left:
        outcome.set_result(None)
        return outcome
    errors: list[BaseException] = []

    def one_done(future: asyncio.Future) -> None:
        nonlocal left
        left -= 1
        if future.cancelled():
            errors.append(asyncio.CancelledError("an output batch was cancelled"))
        elif future.exception() is not None:
            errors.append(future.exception())
        if left or outcome.done():
            return
        if errors:
            outcome.set_exception(errors[0])
        else:
            outcome.set_result(None)

    for future in futures:
        future.add_done_callback(one_done)
    return outcome


def _failure_watch(on_failure: Callable[[BaseException], None]) -> Callable[[asyncio.Future], None]:
    def done(future: asyncio.Future) -> None:
        if not future.cancelled() and future.exception() is not None:
            on_failure(future.exception())

    return done


def _last_offset(in_batch: int, callback: Callable[[int], None]) -> Callable[[asyncio.Future], None]:
    def done(future: asyncio.Future) -> None:
        if not future.cancelled() and future.exception() is None:
            callback(future.result().offset + in_batch - 1)  # the batch's result carries its first offset

    return done
