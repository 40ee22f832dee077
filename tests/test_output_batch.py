"""OutputBatch against a real broker: partitions, order, tombstones, big batches, the last offset."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from baton.streams.output_batch import OutputBatch
from baton.streams.partitioning import expected_partition

pytestmark = pytest.mark.kafka


async def _read_all(bootstrap: str, topic: str, count: int) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    records: list = []
    try:
        async with asyncio.timeout(30):
            while len(records) < count:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    return records


def test_records_land_where_murmur2_says_in_order_with_tombstones_and_offsets(kafka_bootstrap, topic_prefix):
    topic = topic_prefix + "out"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    admin.close()
    keys = [f"acct-{i % 40}".encode() for i in range(3000)]
    values = [f"{i}:".encode() + b"x" * 200 for i in range(3000)]  # ~650 kB: many 16 kB producer batches

    async def run() -> tuple[list, list[int]]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        failures: list[BaseException] = []
        last_offsets: list[int] = []
        try:
            out = OutputBatch()
            for key, value in zip(keys, values):
                out.add(topic, key, value)
            out.add(topic, b"acct-1", None)  # a tombstone
            out.add(topic, b"pinned", b"p", partition=2)
            out.on_sent(topic, 2, last_offsets.append)
            sent = await out.send(producer, failures.append)
            assert await asyncio.wait_for(sent, 30) is None  # Kafka acknowledged every batch
            assert len(out) == 0  # sent once, then empty
        finally:
            await producer.stop()
        assert not failures
        return await _read_all(kafka_bootstrap, topic, 3002), last_offsets

    records, last_offsets = asyncio.run(run())
    assert len(records) == 3002
    for rec in records:
        if rec.key != b"pinned":
            assert rec.partition == expected_partition(rec.key, 3)
    by_key: dict[bytes, list] = {}
    for rec in sorted(records, key=lambda r: (r.partition, r.offset)):
        by_key.setdefault(rec.key, []).append(rec.value)
    assert by_key[b"acct-0"] == [v for k, v in zip(keys, values) if k == b"acct-0"]  # per-key order kept
    assert by_key[b"acct-1"][-1] is None
    pinned = next(r for r in records if r.key == b"pinned")
    assert pinned.partition == 2
    assert last_offsets == [max(r.offset for r in records if r.partition == 2)]


def test_a_batch_kafka_refuses_fails_the_sent_future_and_is_reported(kafka_bootstrap, topic_prefix):
    # Faust's flush before a commit returns alike for a refused batch and a sent one; the
    # future OutputBatch.send returns is what tells them apart (the intake acks on it).
    small, fine = topic_prefix + "small", topic_prefix + "fine"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(small, num_partitions=1, replication_factor=1,
                                  topic_configs={"max.message.bytes": "2000"}),
                         NewTopic(fine, num_partitions=1, replication_factor=1)])
    admin.close()

    async def run() -> tuple[BaseException | None, list[BaseException]]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, request_timeout_ms=10_000)
        await producer.start()
        failures: list[BaseException] = []
        try:
            out = OutputBatch()
            out.add(fine, b"k", b"v")
            out.add(small, b"k", b"x" * 10_000)  # past the topic's max.message.bytes
            sent = await out.send(producer, failures.append)
            try:
                await asyncio.wait_for(sent, 60)
            except Exception as exc:  # noqa: BLE001 - what the test looks at
                return exc, failures
            return None, failures
        finally:
            await producer.stop()

    error, failures = asyncio.run(run())
    assert error is not None and type(error).__name__ == "MessageSizeTooLargeError"
    assert [type(f).__name__ for f in failures] == ["MessageSizeTooLargeError"]
