"""`baton replay` in several processes gives exactly the one-process records.

The parallel replay splits the accounts by partition (each worker reads only
its partitions) when every key sits in its murmur2 partition, and falls back
to splitting by key hash when one does not: both must equal one process.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta, timezone

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from baton.demo.generator import generate
from baton.offline.replay import replay_inputs
from baton.settings import Settings
from baton.streams.partitioning import expected_partition
from baton.streams.topics import TopicNames

pytestmark = pytest.mark.kafka


def _produce(bootstrap: str, prefix: str, records) -> None:
    names = TopicNames(prefix)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(t, 4, 1) for t in names.inputs])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)  # murmur2, as the contract requires
    try:
        for short, key, value, partition in records:
            producer.send(prefix + short, key=key, value=value, partition=partition)
        producer.flush(30)
    finally:
        producer.close()


def _replay(bootstrap: str, prefix: str, workers: int):
    return asyncio.run(replay_inputs(Settings(bootstrap_servers=bootstrap, topic_prefix=prefix), workers=workers))


def _stream(n: int):
    start = datetime.now(timezone.utc) - timedelta(days=400)
    return [(t, k.encode(), v, None) for t, k, v in itertools.islice(generate(5, 60, start), n)]


def test_parallel_replay_equals_one_process(kafka_bootstrap, topic_prefix):
    _produce(kafka_bootstrap, topic_prefix, _stream(1500))
    one = _replay(kafka_bootstrap, topic_prefix, 1)
    assert one.events == 1500 and one.rejected == 0
    for workers in (2, 3):
        many = _replay(kafka_bootstrap, topic_prefix, workers)
        assert (many.workers, many.events, many.rejected) == (workers, one.events, one.rejected)
        assert many.records == one.records


def test_a_key_outside_its_partition_falls_back_and_still_equals_one_process(kafka_bootstrap, topic_prefix, caplog):
    records = _stream(800)
    # The same account's later event, put in a partition murmur2 would not pick: splitting
    # by partition would fold this account in two workers.
    short, key, value, _ = next(r for r in reversed(records) if r[0] == "payments")
    wrong = next(p for p in range(4) if p != expected_partition(key, 4))
    records.append((short, key, value.replace(b'"id":"', b'"id":"moved-', 1), wrong))
    _produce(kafka_bootstrap, topic_prefix, records)
    one = _replay(kafka_bootstrap, topic_prefix, 1)
    with caplog.at_level("INFO", logger="baton.offline.replay"):
        two = _replay(kafka_bootstrap, topic_prefix, 2)
    assert "not in its murmur2 partition" in caplog.text  # it did fall back
    assert (two.events, two.rejected) == (one.events, one.rejected) == (801, 0)
    assert two.records == one.records
