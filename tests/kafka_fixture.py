"""Which real Apache Kafka the tests (and benches) run against.

``session_kafka`` picks, in order:

1. a throw-away ``apache/kafka`` container, when a Docker engine answers;
2. the broker named by ``KAFKA_BOOTSTRAP_SERVERS``;
3. a ``LocalKafka`` (Kafka's own jars, run by Java) on a free port.

Never a mock: each path is a real KRaft broker of the version in
``baton/kafka_local/pom.xml``. Benches use it too::

    from tests.kafka_fixture import session_kafka
    with session_kafka(Path(tmp)) as bootstrap: ...
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path
from typing import Iterator

from baton.kafka_local import KAFKA_VERSION, LocalKafka, broker_answers, free_port

KAFKA_IMAGE = f"apache/kafka:{KAFKA_VERSION}"


def docker_answers() -> bool:
    """True if a Docker engine answers now; fast and silent when there is none."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@contextlib.contextmanager
def kafka_container(timeout: float = 90) -> Iterator[str]:
    """The official image in KRaft mode; yields its bootstrap address."""
    # Not testcontainers' KafkaContainer: it drives Confluent's image through
    # Confluent's start scripts (/etc/confluent/docker/...), which apache/kafka lacks.
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.docker_client import DockerClient
    from testcontainers.core.waiting_utils import wait_for_logs

    host, port = DockerClient().host(), free_port()
    env = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://localhost:29092,CONTROLLER://localhost:29093,HOST://0.0.0.0:9092",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://localhost:29092,HOST://{host}:{port}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,HOST:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:29093",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "true",
    }
    # The advertised address must be the one the tests dial, so fix the host port first.
    container = DockerContainer(KAFKA_IMAGE).with_bind_ports(9092, port)
    for key, value in env.items():
        container.with_env(key, value)
    with container:
        wait_for_logs(container, "Kafka Server started", timeout=timeout)
        bootstrap = f"{host}:{port}"
        _wait_answers(bootstrap, timeout)
        yield bootstrap


def _wait_answers(bootstrap: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not broker_answers(bootstrap):
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kafka at {bootstrap} did not answer within {timeout}s")
        time.sleep(0.5)


@contextlib.contextmanager
def session_kafka(tmp_dir: Path) -> Iterator[str]:
    """A running broker for a whole session, torn down at the end if we started it."""
    if docker_answers():
        with kafka_container() as bootstrap:
            yield bootstrap
    elif os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    else:
        with local_kafka(tmp_dir) as kafka:
            yield kafka.bootstrap


@contextlib.contextmanager
def local_kafka(tmp_dir: Path) -> Iterator[LocalKafka]:
    """A LocalKafka of our own on a free port; jars from the shared cache, data in ``tmp_dir``."""
    kafka = LocalKafka(port=free_port(), data_dir=tmp_dir / "kafka")
    try:
        yield kafka.start()
    finally:
        kafka.stop()


def unique_prefix() -> str:
    """A topic-name prefix no other test run uses: tests share the session's broker."""
    return f"t{secrets.token_hex(4)}."
