"""Read whole topics fast, from the beginning to the end offsets seen at start.

A batch consumer (aiokafka ``getmany``) without a consumer group: it changes
no committed offset, so it can run beside a live worker.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord


async def read_to_end(bootstrap: str, topics: list[str], batch: int = 10_000,
                      timeout_ms: int = 500) -> AsyncIterator[list[ConsumerRecord]]:
    """Yield batches of records of ``topics`` up to their end offsets at call time."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024,
                                fetch_max_bytes=64 * 1024 * 1024)
    await consumer.start()
    try:
        partitions = []
        for topic in topics:
            for p in consumer.partitions_for_topic(topic) or await _partitions(consumer, topic):
                partitions.append(TopicPartition(topic, p))
        if not partitions:
            return
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp, end in ends.items() if end > 0}
        # Nothing to read where the log start already equals the end (all deleted/compacted away).
        starts = await consumer.beginning_offsets(partitions)
        remaining = {tp for tp in remaining if starts[tp] < ends[tp]}
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


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    # Metadata for a topic is fetched lazily; ask for it once.
    await consumer._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public call for this
    await asyncio.sleep(0)
    return consumer.partitions_for_topic(topic) or set()
