"""Read whole topics fast, from the beginning to the end offsets seen at start.

A batch consumer (aiokafka ``getmany``) without a consumer group: it changes
no committed offset, so it can run beside a live worker.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import AsyncIterator, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord


async def read_to_end(bootstrap: str, topics: list[str], batch: int = 10_000, timeout_ms: int = 500,
                      only: Callable[[TopicPartition], bool] | None = None) -> AsyncIterator[list[ConsumerRecord]]:
    """Yield batches of records of ``topics`` up to their end offsets at call time.

    ``only`` keeps the partitions it returns True for (default: all).
    """
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        partitions, starts, ends = await _bounds(consumer, topics)
        if only is not None:
            partitions = [tp for tp in partitions if only(tp)]
        # Nothing to read where the log start already equals the end (all deleted/compacted away).
        remaining = {tp for tp in partitions if starts[tp] < ends[tp]}
        if not remaining:
            return
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=timeout_ms, max_records=batch)
            for tp, records in fetched.items():
                if records:
                    yield records
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class TopicLayout:
    records: int  # how many records read_to_end would read now (end minus start offsets)
    partitions: dict[str, int]  # topic -> partition count


async def topic_layout(bootstrap: str, topics: list[str]) -> TopicLayout:
    """How many records ``topics`` hold now, and how many partitions each has."""
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        partitions, starts, ends = await _bounds(consumer, topics)
        counts: dict[str, int] = {}
        for tp in partitions:
            counts[tp.topic] = counts.get(tp.topic, 0) + 1
        return TopicLayout(sum(max(0, ends[tp] - starts[tp]) for tp in partitions), counts)
    finally:
        await consumer.stop()


def _consumer(bootstrap: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                            auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024,
                            fetch_max_bytes=64 * 1024 * 1024)


async def _bounds(consumer: AIOKafkaConsumer, topics: list[str]):
    """The topics' partitions with their start and end offsets."""
    partitions = []
    for topic in topics:
        for p in consumer.partitions_for_topic(topic) or await _partitions(consumer, topic):
            partitions.append(TopicPartition(topic, p))
    if not partitions:
        return [], {}, {}
    ends = await consumer.end_offsets(partitions)
    starts = await consumer.beginning_offsets(partitions)
    return partitions, starts, ends


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    # Metadata for a topic is fetched lazily; ask for it once.
    await consumer._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public call for this
    await asyncio.sleep(0)
    return consumer.partitions_for_topic(topic) or set()
