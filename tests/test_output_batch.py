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
            await out.send(producer, failures.append)
            await producer.flush()
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


def test_a_send_longer_than_its_time_slice_lets_other_tasks_run_and_keeps_order(kafka_bootstrap, topic_prefix,
                                                                                 monkeypatch):
    """With a zero budget every record is a slice of its own: the send yields between records
    (another task runs meanwhile), and still every record lands once, in order, with the
    right last offset."""
    import baton.streams.time_slice as time_slice

    monkeypatch.setattr(time_slice, "STEP_SECONDS", 0.0)
    topic = topic_prefix + "sliced"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    admin.close()
    values = [f"{i}".encode() for i in range(200)]

    async def run() -> tuple[list, list[int], int]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        ticks = 0
        sending = True

        async def ticker() -> None:
            nonlocal ticks
            while sending:
                ticks += 1
                await asyncio.sleep(0)

        last_offsets: list[int] = []
        failures: list[BaseException] = []
        try:
            out = OutputBatch()
            for value in values:
                out.add(topic, b"k", value, partition=1)
            out.on_sent(topic, 1, last_offsets.append)
            await producer.partitions_for(topic)  # metadata first: its fetch would yield anyway
            ticking = asyncio.ensure_future(ticker())
            await asyncio.sleep(0)
            ticks_before = ticks
            await out.send(producer, failures.append)
            ticks_during = ticks - ticks_before
            sending = False
            await ticking
            await producer.flush()
        finally:
            await producer.stop()
        assert not failures
        return await _read_all(kafka_bootstrap, topic, len(values)), last_offsets, ticks_during

    records, last_offsets, ticks_during = asyncio.run(run())
    assert ticks_during >= 100  # the send gave the loop back between records
    assert [r.value for r in sorted(records, key=lambda r: r.offset)] == values  # once each, in order
    assert last_offsets == [max(r.offset for r in records)]
