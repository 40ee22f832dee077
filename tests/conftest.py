"""Fixtures shared by all tests, one section per area: add yours under its heading."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from baton.kafka_local import LocalKafka, LocalKafkaError
from kafka_fixture import local_kafka as start_local_kafka
from kafka_fixture import session_kafka, unique_prefix
from peers import SlackThread, SmtpSink

# --- Kafka ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The "host:port" of a real broker shared by the whole session (see kafka_fixture.py)."""
    with session_kafka(tmp_path_factory.mktemp("kafka-session")) as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def kafka_jars() -> Path:
    """The LocalKafka jar dir (fetched once); skips the test if Java or Maven cannot provide it."""
    try:
        return LocalKafka().ensure_jars()
    except LocalKafkaError as e:
        pytest.skip(f"no local Kafka: {e}")


@pytest.fixture(scope="session")
def _local_kafka_session(kafka_jars: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    # Separate from kafka_bootstrap's broker: tests stop and kill this one.
    with start_local_kafka(tmp_path_factory.mktemp("kafka-local")) as kafka:
        yield kafka


@pytest.fixture
def local_kafka(_local_kafka_session: LocalKafka) -> LocalKafka:
    """A LocalKafka the test may stop, kill or restart; running again for the next test."""
    return _local_kafka_session.start()


@pytest.fixture
def topic_prefix() -> str:
    """e.g. "t1a2b3c4.": topics of one test never collide with another's on a shared broker."""
    return unique_prefix()


# --- (next area) ------------------------------------------------------------------


# --- Notification peers (peers.py) -------------------------------------------------


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackThread]:
    """A Slack-contract HTTP server shared by a module's tests (they tell their messages apart by id)."""
    server = SlackThread()
    yield server
    server.close()


@pytest.fixture
def own_slack() -> Iterator[SlackThread]:
    """A Slack-contract server for one test alone: for tests that take it down or count every arrival."""
    server = SlackThread()
    yield server
    server.close()


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) shared by a module's tests."""
    sink = SmtpSink()
    yield sink
    sink.close()
