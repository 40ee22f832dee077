"""``baton demo``: send the synthetic stream into the input topics at a steady rate."""

from __future__ import annotations

import itertools
import signal
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Iterator

import orjson

from baton.demo.generator import generate
from baton.settings import Settings
from baton.streams.topics import INPUT_TOPICS, TopicNames

PLAIN_PROGRESS_EVERY = 5.0  # seconds between progress lines when stderr is not a terminal
BOOTSTRAP_TIMEOUT_MS = 10_000  # how long to try the broker before saying it is unreachable


class BrokerUnreachable(ConnectionError):
    """No broker answered at ``settings.bootstrap_servers``."""


def ensure_input_topics(settings: Settings, names: TopicNames) -> list[str]:
    """Create the missing input topics with ``settings.partitions`` partitions; return the ones created."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.bootstrap_servers.split(","),
            client_id="baton-demo",
            bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
        )
    except KafkaError as e:
        raise BrokerUnreachable(f"cannot reach Kafka at {settings.bootstrap_servers}: {e}") from e
    try:
        existing = set(admin.list_topics())
        missing = [t for t in (names.name(s) for s in INPUT_TOPICS) if t not in existing]
        created = []
        for topic in missing:
            spec = {topic: {"num_partitions": settings.partitions, "replication_factor": settings.replication_factor}}
            try:
                admin.create_topics(spec, wait_for_metadata=True)
                created.append(topic)
            except TopicAlreadyExistsError:
                pass  # another producer or the worker won the race
        return created
    finally:
        admin.close()


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """`docker stop` sends SIGTERM: treat it like Ctrl-C so the tail is flushed, not lost."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Progress:
    """A rich bar on a terminal; otherwise a plain line every few seconds (logs, CI, docker)."""

    def __init__(self, count: int, rate: float) -> None:
        self.count, self.rate = count, rate
        self.started = self.last_line = time.monotonic()
        self._bar = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            columns = [TextColumn("demo"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[speed]}"),
                       TimeElapsedColumn()]
            self._bar = Progress(*columns, console=Console(stderr=True))
            self._task = self._bar.add_task("demo", total=count or None, speed="")

    def __enter__(self) -> "_Progress":
        if self._bar:
            self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar:
            self._bar.stop()

    def update(self, sent: int, final: bool = False) -> None:
        now = time.monotonic()
        speed = sent / max(now - self.started, 1e-9)
        if self._bar:
            self._bar.update(self._task, completed=sent, speed=f"{speed:,.0f} ev/s")
        elif final or now - self.last_line >= PLAIN_PROGRESS_EVERY:
            self.last_line = now
            of = f"/{self.count}" if self.count else ""
            print(f"demo: {sent}{of} events sent ({speed:,.1f}/s)", file=sys.stderr, flush=True)


DEMO_HISTORY = timedelta(days=7)


def _not_after_now(events):
    for topic, key, value in events:
        doc = orjson.loads(value)
        now = datetime.now(timezone.utc)
        if datetime.fromisoformat(doc["occurred_at"].replace("Z", "+00:00")) > now:
            doc["occurred_at"] = now.isoformat(timespec="seconds").replace("+00:00", "Z")
            value = orjson.dumps(doc)
        yield topic, key, value


def run_demo(settings: Settings, rate: float, count: int, seed: int | None, accounts: int,
             stop: threading.Event | None = None) -> int:
    """Produce ``count`` events (0 = until Ctrl-C/SIGTERM) at ``rate``/s (0 = flat out).

    Returns the number of records the broker acknowledged.
    """
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    if not settings.bootstrap_servers:
        raise BrokerUnreachable("no broker: set KAFKA_BOOTSTRAP_SERVERS")
    if rate < 0 or count < 0:
        raise ValueError("rate and count must not be negative")
    names = TopicNames(settings.topic_prefix)
    ensure_input_topics(settings, names)
    try:
        producer = KafkaProducer(
            bootstrap_servers=settings.bootstrap_servers.split(","),
            client_id="baton-demo",
            acks=1,
            linger_ms=5,
            # acks=1 rules out idempotence; one request in flight keeps each key's order on retries.
            enable_idempotence=False,
            max_in_flight_requests_per_connection=1,
            bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            # No partitioner given: kafka-python's default is murmur2, as the contract requires.
        )
    except KafkaError as e:
        raise BrokerUnreachable(f"cannot reach Kafka at {settings.bootstrap_servers}: {e}") from e

    acked, errors = 0, []
    lock = threading.Lock()  # callbacks run on the I/O thread, or here if the send is already done

    def on_ack(_metadata) -> None:
        nonlocal acked
        with lock:
            acked += 1

    # Simulated time runs far faster than the clock: start a week back and never
    # stamp an event later than now, or the worker would reject it as from the future.
    events = _not_after_now(generate(seed, accounts, start=datetime.now(timezone.utc) - DEMO_HISTORY))
    if count:
        events = itertools.islice(events, count)
    sent = 0
    started = time.monotonic()
    try:
        with _sigterm_as_interrupt(), _Progress(count, rate) as progress:
            try:
                for topic, key, value in events:
                    if stop is not None and stop.is_set():
                        break
                    if rate:
                        # Pace against the start, not the previous send, so the rate doesn't drift.
                        wait = started + sent / rate - time.monotonic()
                        if wait > 0:
                            if stop is not None:
                                if stop.wait(wait):
                                    break
                            else:
                                time.sleep(wait)
                    future = producer.send(names.name(topic), key=key.encode(), value=value)
                    future.add_callback(on_ack).add_errback(errors.append)
                    sent += 1
                    progress.update(sent)
            except KeyboardInterrupt:
                pass  # stop sending; the flush below still delivers what is queued
            producer.flush(timeout=30)
            progress.update(acked, final=True)
    finally:
        producer.close(timeout=10)
    if errors:
        print(f"demo: {len(errors)} of {sent} records failed, first: {errors[0]!r}", file=sys.stderr)
    return acked
