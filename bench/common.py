"""What every benchmark shares: a broker, realistic events produced fast, a raw consumer, JSON out.

- ``broker(bootstrap)``: the broker given, else the tests' choice
  (``tests/kafka_fixture.session_kafka``: a container when Docker answers,
  ``KAFKA_BOOTSTRAP_SERVERS``, else a local Apache Kafka started for the run).
- ``load_events(n, accounts, seed)``: ``n`` events of ``baton.demo.generator``
  (the realistic mix), starting 400 days ago so none lies in the future;
  cached under ``~/.cache/baton/bench`` because generating is slower than
  reading them back.
- ``produce(...)``: creates the five input topics under a fresh prefix and
  produces the events with aiokafka, partitioned by murmur2(key) as the
  contract requires (the Java client's and aiokafka's default partitioner).
- ``raw_consume(...)``: the baseline every figure is divided by: aiokafka
  ``getmany`` without a consumer group, optionally ``orjson.loads`` per value.
- ``emit(result, out)``: print the JSON result (and write it to ``out``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import orjson

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # for tests.kafka_fixture (tests/ is not an installed package)
    sys.path.insert(0, str(REPO))

from baton.streams.partitioning import expected_partition  # noqa: E402
from baton.streams.topics import INPUT_TOPICS, TopicNames  # noqa: E402

CACHE_DIR = Path(os.environ.get("BATON_BENCH_CACHE", Path.home() / ".cache" / "baton" / "bench"))
HISTORY_DAYS = 400  # events start this long ago: the decoder rejects events from the future

Event = tuple[str, bytes, bytes]  # (short topic, key, value)


def py_spy() -> str | None:
    """The py-spy executable (on PATH or beside this Python), or None if it is not installed."""
    import shutil

    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found if Path(found).exists() else None


def env_pairs(items: list[str]) -> dict[str, str]:
    """``--worker-env NAME=VALUE`` arguments as an environment."""
    return dict(item.split("=", 1) for item in items)


# --- command line ------------------------------------------------------------------


def parser(description: str, default_events: int = 200_000) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--events", type=int, default=default_events, help="events to produce and read (default %(default)s)")
    p.add_argument("--accounts", type=int, default=10_000, help="simulated accounts (default %(default)s)")
    p.add_argument("--partitions", type=int, default=4, help="partitions per input topic (default %(default)s)")
    p.add_argument("--seed", type=int, default=7, help="generator seed (default %(default)s)")
    p.add_argument("--bootstrap", default=None,
                   help="use this broker; default: a container, $KAFKA_BOOTSTRAP_SERVERS, else a local Kafka")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON result to this file")
    return p


# --- broker and topics -----------------------------------------------------------------


@contextlib.contextmanager
def broker(bootstrap: str | None) -> Iterator[str]:
    """The broker to run against; one started here is stopped on exit."""
    if bootstrap:
        yield bootstrap
        return
    from tests.kafka_fixture import session_kafka

    with tempfile.TemporaryDirectory(prefix="baton-bench-kafka-") as tmp:
        with session_kafka(Path(tmp)) as started:
            yield started


def fresh_prefix(tag: str = "bench") -> str:
    """A topic prefix no other run uses (benches may share a broker with tests)."""
    return f"{tag}{secrets.token_hex(4)}."


def create_topics(bootstrap: str, topics: list[str], partitions: int) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="baton-bench")
    try:
        admin.create_topics([NewTopic(t, partitions, 1) for t in topics])
    finally:
        admin.close()


def delete_topics(bootstrap: str, token: str) -> int:
    """Delete every topic whose name contains ``token`` (a run's random prefix); returns how many."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="baton-bench")
    try:
        doomed = [t for t in admin.list_topics() if token in t]
        if doomed:
            admin.delete_topics(doomed)
        return len(doomed)
    finally:
        admin.close()


# --- events ----------------------------------------------------------------------------


def _history_start() -> datetime:
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=HISTORY_DAYS)


def load_events(n: int, accounts: int, seed: int) -> list[Event]:
    """The first ``n`` events of the demo generator (cached per day, seed and accounts)."""
    start = _history_start()
    stem = f"events-s{seed}-a{accounts}-{start:%Y%m%d}"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    for path in sorted(CACHE_DIR.glob(stem + "-n*.json")):
        if int(path.stem.rsplit("-n", 1)[1]) >= n:
            try:
                rows = orjson.loads(path.read_bytes())[:n]
                return [(t, k.encode(), v.encode()) for t, k, v in rows]
            except (orjson.JSONDecodeError, ValueError, OSError):
                path.unlink(missing_ok=True)  # a torn write: generate again
    import itertools

    from baton.demo.generator import generate

    events = [(t, k.encode(), v) for t, k, v in itertools.islice(generate(seed, accounts, start), n)]
    tmp = CACHE_DIR / f".{stem}-n{n}.{os.getpid()}"
    tmp.write_bytes(orjson.dumps([(t, k.decode(), v.decode()) for t, k, v in events]))
    tmp.replace(CACHE_DIR / f"{stem}-n{n}.json")
    # Drop older days' files: they can never be used again.
    for old in CACHE_DIR.glob(f"events-s{seed}-a{accounts}-*.json"):
        if not old.name.startswith(stem):
            old.unlink(missing_ok=True)
    return events


async def _produce(bootstrap: str, prefix: str, events: list[Event], partitions: int) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=50, max_batch_size=512 * 1024,
                                max_request_size=8 * 1024 * 1024)
    await producer.start()
    try:
        # Whole batches per partition (aiokafka's per-record send costs ~20 µs); the partition
        # is murmur2(key) % partitions, exactly what aiokafka's and Java's default partitioner pick.
        batches: dict[tuple[str, int], Any] = {}
        sent = []
        for short, key, value in events:
            tp = (prefix + short, expected_partition(key, partitions))
            batch = batches.get(tp)
            if batch is None:
                batch = batches[tp] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                sent.append(await producer.send_batch(batch, tp[0], partition=tp[1]))
                batch = batches[tp] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        for (topic, partition), batch in batches.items():
            if batch.record_count():
                sent.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def produce(bootstrap: str, prefix: str, events: list[Event], partitions: int) -> dict[str, Any]:
    """Create the input topics under ``prefix`` and produce ``events``; returns timing facts."""
    names = TopicNames(prefix)
    create_topics(bootstrap, names.inputs, partitions)
    started = time.perf_counter()
    asyncio.run(_produce(bootstrap, prefix, events, partitions))
    seconds = time.perf_counter() - started
    return {"events": len(events), "seconds": round(seconds, 3), "events_per_s": rate(len(events), seconds)}


def mix(events: list[Event]) -> dict[str, int]:
    out: dict[str, int] = {}
    for short, _, _ in events:
        out[short] = out.get(short, 0) + 1
    return out


def prepare(args: argparse.Namespace, bootstrap: str, tag: str) -> tuple[str, list[Event], dict[str, Any]]:
    """Load the events, produce them under a fresh prefix; returns (prefix, events, facts)."""
    t = time.perf_counter()
    events = load_events(args.events, args.accounts, args.seed)
    loaded = time.perf_counter() - t
    prefix = fresh_prefix(tag)
    produced = produce(bootstrap, prefix, events, args.partitions)
    facts = {
        "events": len(events),
        "accounts": args.accounts,
        "partitions": args.partitions,
        "seed": args.seed,
        "prefix": prefix,
        "mix": mix(events),
        "mean_value_bytes": round(sum(len(v) for _, _, v in events) / max(1, len(events)), 1),
        "load_seconds": round(loaded, 2),
        "produce": produced,
    }
    return prefix, events, facts


# --- the raw baseline ----------------------------------------------------------------------


async def raw_consume(bootstrap: str, topics: list[str], n: int, decode: bool = True,
                      max_records: int = 10_000) -> dict[str, Any]:
    """Read ``n`` records of ``topics`` from the beginning with ``getmany``; orjson each value if ``decode``.

    Returns ``seconds`` (from the consumer's start to the n-th record, like a
    replay) and ``first_to_last_seconds`` (from the first record, like a
    worker that is already running).
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    started = time.perf_counter()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024,
                                fetch_max_bytes=64 * 1024 * 1024)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001 - metadata for not-yet-seen topics
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        count, first, loads = 0, None, orjson.loads
        deadline = time.monotonic() + max(120.0, n / 1000)
        while count < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"raw consumer read {count} of {n} records")
            batches = await consumer.getmany(timeout_ms=500, max_records=max_records)
            for records in batches.values():
                if first is None and records:
                    first = time.perf_counter()
                if decode:
                    for rec in records:
                        loads(rec.value)
                count += len(records)
        done = time.perf_counter()
    finally:
        await consumer.stop()
    return {
        "records": count,
        "decode": "orjson" if decode else "none",
        "seconds": round(done - started, 3),
        "events_per_s": rate(count, done - started),
        "first_to_last_seconds": round(done - (first or started), 3),
        "events_per_s_from_first": rate(count, done - (first or started)),
    }


# --- output ---------------------------------------------------------------------------------


def rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else 0.0


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def median(values: list[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "faust-streaming": version("faust-streaming"),
        "aiokafka": version("aiokafka"),
        "pydantic": version("pydantic"),
        "loadavg_at_start": [round(x, 2) for x in load] if load else None,
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def emit(result: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(result, indent=2)
    print(text, flush=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


def log(message: str) -> None:
    """Progress for people, on stderr (stdout carries only the JSON)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


__all__ = ["INPUT_TOPICS", "TopicNames", "WorkerDied", "broker", "cpu_seconds", "emit", "load_events", "log", "machine", "median",
           "parser", "prepare", "processed", "produce", "rate", "ratio", "raw_consume", "wait_processed"]


# --- waiting for workers ------------------------------------------------------------------------------------


def processed(worker) -> int:
    if worker.proc.poll() is not None:
        raise RuntimeError(f"the worker exited with {worker.proc.returncode}:\n{worker.log_tail(40)}")
    m = worker.http_json("/metrics.json")
    return m["events_valid"] + m["events_duplicate"] + m.get("events_redelivered", 0) + m["dead_letters"]


class WorkerDied(RuntimeError):
    pass


def wait_processed(workers: list, n: int, what: str, stall: float = 180.0, poll: float = 0.2,
                   progress: list | None = None) -> dict[str, Any]:
    """Poll /metrics.json until the workers processed ``n`` events together; seconds from the first one.

    ``stall``: give up when the count has not moved for this long (the log's tail is in the error).

    ``progress`` (a list) gets (seconds since the first event, events processed) every 30 s.
    """
    if n <= 0:
        raise ValueError(f"{what}: nothing to wait for ({n} events)")
    first = last_change = None
    seen, next_log = -1, 0.0
    while True:
        try:
            done = sum(processed(w) for w in workers)
        except (OSError, RuntimeError) as e:
            time.sleep(2.0)  # let a dying worker finish writing its log
            dead = [w for w in workers if w.proc.poll() is not None]
            if not dead:
                raise
            raise WorkerDied(f"{what}: a worker exited after {seen:,} of {n:,} events") from e
        now = time.perf_counter()
        if done and first is None:
            first = now
        if done != seen:
            seen, last_change = done, now
        if now >= next_log:
            next_log = now + 30
            log(f"{what}: {done:,}/{n:,} processed")
            if progress is not None and first is not None:
                progress.append([round(now - first, 1), done])
        if done >= n:
            break
        if last_change is not None and now - last_change > stall:
            raise TimeoutError(f"{what}: stuck at {done} of {n}:\n{workers[0].log_tail()}")
        time.sleep(poll)
    seconds = now - first
    return {"events": done, "first_to_last_seconds": round(seconds, 2), "events_per_s": rate(done, seconds)}
