"""The brokers tests run against: the session's, and LocalKafka's own lifecycle."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from baton.kafka_local import LocalKafka, LocalKafkaError, broker_answers, free_port

pytestmark = pytest.mark.kafka


def create_topic(bootstrap: str, topic: str) -> None:
    with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])


def produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        producer.send(topic, key=b"k", value=value).get(timeout=30)
    finally:
        producer.close()


def read_values(bootstrap: str, topic: str, expected: int, timeout: float = 20) -> list[bytes]:
    """Values of ``topic`` from the beginning, once ``expected`` arrived or ``timeout`` passed."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(values) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                values.extend(record.value for record in records)
    finally:
        consumer.close()
    return values


def test_session_broker_round_trips_a_record(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}round-trip"
    create_topic(kafka_bootstrap, topic)
    produce(kafka_bootstrap, topic, b"hello")
    assert read_values(kafka_bootstrap, topic, expected=1) == [b"hello"]


def test_records_survive_a_stop_and_start(local_kafka: LocalKafka, topic_prefix: str) -> None:
    topic = f"{topic_prefix}durable"
    create_topic(local_kafka.bootstrap, topic)
    produce(local_kafka.bootstrap, topic, b"before restart")
    old_pid = local_kafka.pid

    local_kafka.stop()
    assert not local_kafka.is_running
    assert not broker_answers(local_kafka.bootstrap, timeout=0.5)

    local_kafka.start()
    assert local_kafka.pid != old_pid
    assert read_values(local_kafka.bootstrap, topic, expected=1) == [b"before restart"]


def test_killed_broker_is_gone_and_comes_back_with_its_records(local_kafka: LocalKafka, topic_prefix: str) -> None:
    topic = f"{topic_prefix}crash"
    create_topic(local_kafka.bootstrap, topic)
    produce(local_kafka.bootstrap, topic, b"before crash")

    local_kafka.kill()
    assert not local_kafka.is_running
    assert not local_kafka.pid_file.exists()

    local_kafka.start()
    assert read_values(local_kafka.bootstrap, topic, expected=1) == [b"before crash"]


def test_another_handle_stops_the_broker_through_its_pid_file(local_kafka: LocalKafka) -> None:
    # What `baton kafka stop` does from another shell.
    other = LocalKafka(base_dir=local_kafka.base_dir, port=local_kafka.port, data_dir=local_kafka.data_dir)
    assert other.pid == local_kafka.pid

    other.stop()
    assert not local_kafka.is_running
    assert not broker_answers(local_kafka.bootstrap, timeout=0.5)


def test_start_on_a_port_in_use_fails_clearly(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        kafka = LocalKafka(port=port, data_dir=tmp_path)
        with pytest.raises(LocalKafkaError, match=f"port {port} .* already in use"):
            kafka.start()
    assert not kafka.is_running


def test_a_broker_that_dies_at_start_fails_fast_and_shows_why(kafka_jars: Path, tmp_path: Path) -> None:
    kafka = LocalKafka(port=free_port(), heap="not-a-size", data_dir=tmp_path)
    started = time.monotonic()
    with pytest.raises(LocalKafkaError, match="(?s)exited with code.*Invalid maximum heap size"):
        kafka.start(timeout=60)
    assert time.monotonic() - started < 20  # did not wait for the timeout
    assert not kafka.pid_file.exists()
