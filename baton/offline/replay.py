"""`baton replay`: recompute the scorecard from the input topics and compare it with the live one.

The replay decodes every input record with the same ``decode`` the worker
uses (so the same records are rejected) and folds them with the same pure
functions (``baton.scorecard.replay``). A difference means live state has
drifted from the events: the output names each scope and figure.

Speed (docs/benchmarks.md): a batch consumer, the cyclic GC off while the
events are held, and from ``PARALLEL_MIN_RECORDS`` records on one process per
core, each folding its share of the accounts.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import pickle
import signal
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import orjson

from baton.funnel.history import compact
from baton.offline.topic_reader import read_to_end, topic_layout
from baton.scorecard import Partial, combine, finalize_all
from baton.scorecard.contribution import add_spend
from baton.scorecard.scorecard import Replay
from baton.settings import Settings
from baton.streams.decode import validate
from baton.streams.partitioning import expected_partition
from baton.streams.topics import TopicNames

log = logging.getLogger(__name__)


@dataclass
class ReplayResult:
    records: dict[str, dict[str, Any]]
    events: int
    rejected: int
    seconds: float
    workers: int = 1


# Below this many input records one process is quicker than starting others.
PARALLEL_MIN_RECORDS = 100_000
MAX_WORKERS = 4


async def replay_inputs(settings: Settings, workers: int | None = None) -> ReplayResult:
    """Recompute every scorecard scope from the input topics (from the beginning).

    With ``workers`` > 1 the accounts are shared among that many processes
    (this one and forked ones), each folding its own accounts; their per-scope
    totals are summed, which is exact, so any count gives the same records.
    ``None`` picks one per core (at most ``MAX_WORKERS``) when the topics hold
    at least ``PARALLEL_MIN_RECORDS`` records, else one.
    """
    with gc_paused():  # forked shares inherit it
        return await _replay_inputs(settings, workers)


async def _replay_inputs(settings: Settings, workers: int | None) -> ReplayResult:
    names = TopicNames(settings.topic_prefix)
    started = time.perf_counter()
    layout = None
    if workers is None:
        workers = 1
        cores = os.cpu_count() or 1
        if cores > 1:
            layout = await topic_layout(settings.bootstrap_servers, names.inputs)
            if layout.records >= PARALLEL_MIN_RECORDS:
                workers = min(cores, MAX_WORKERS)
    if workers <= 1:
        acc, _, total, rejected = await _replay_share(settings, _Split(0, 1))
        records = acc.records(settings.sla_windows)
    else:
        layout = layout or await topic_layout(settings.bootstrap_servers, names.inputs)
        counts = set(layout.partitions.values())
        records = None
        if len(counts) == 1 and min(counts) >= workers:
            # Each worker reads only its partitions: an account's events are all in its key's partition.
            try:
                records, total, rejected = await _replay_parallel(settings, workers, min(counts))
            except _Unsplittable as exc:
                log.info("replay: %s; sharing accounts by key hash instead", exc)
        if records is None:
            records, total, rejected = await _replay_parallel(settings, workers, 0)
    return ReplayResult(records, total - rejected, rejected, time.perf_counter() - started, workers)


@dataclass(frozen=True)
class _Split:
    """Which records one worker replays: share ``share`` of ``shares``, by partition
    (``partitions`` = the input topics' common partition count) or, when 0, by key hash."""

    share: int
    shares: int
    partitions: int = 0


class _Unsplittable(Exception):
    """The input cannot be split by partition (a key outside its murmur2 partition, or not UTF-8)."""


def _share_of(key: bytes | None, shares: int) -> int:
    """Which worker replays a record when sharing by key hash: an account's events meet in one.

    Accepted account events have key == account_id (as UTF-8 text, invalid bytes replaced):
    ASCII keys hash as they are; any other key goes to worker 0, so two keys that decode
    to the same text never land in different workers.
    """
    if not key or not key.isascii():
        return 0
    return zlib.crc32(key) % shares


async def _replay_share(settings: Settings, split: _Split) -> tuple[Replay, dict[str, Partial] | None, int, int]:
    """Read and validate the records of one share; group them by account.

    Returns the grouped events, their account totals when sharing (None for a single share),
    and how many records were read and rejected.
    """
    names = TopicNames(settings.topic_prefix)
    acc = Replay()
    add = acc.add
    rejected = total = 0
    totals = None
    share, shares, partitions = split.share, split.shares, split.partitions
    only = (lambda tp: tp.partition % shares == share) if partitions else None
    checked: dict[bytes, int] = {}  # key -> its murmur2 partition, when splitting by partition
    # The cyclic GC is off here: replay_inputs pauses it, and forked shares inherit that.
    async for batch in read_to_end(settings.bootstrap_servers, names.inputs, only=only):
        if partitions:
            for rec in batch:
                key = rec.key
                if key is not None and checked.get(key) != rec.partition:
                    checked[key] = _check_key(key, rec.topic, rec.partition, partitions)
        elif shares > 1:
            batch = [rec for rec in batch if _share_of(rec.key, shares) == share]
        total += len(batch)
        for rec in batch:
            # validate() is decode() without building a DeadLetter: the same records are rejected.
            out = validate(rec.value, rec.key, rec.timestamp)
            if out.__class__ is str:
                rejected += 1
            else:
                add(compact(out))
    if shares > 1:
        totals = acc.account_totals(settings.sla_windows)
    return acc, totals, total, rejected


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic GC off inside (the outermost of nested uses turns it back on).

    Nothing the replay builds makes reference cycles, but every event it holds is a tracked
    dict: with the GC on, its full collections walk them all again and again (measured: 2-3x
    slower), and one more full walk right after reading (~50 ms per 100,000 events) while
    the totals are combined.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _check_key(key: bytes, topic: str, partition: int, partitions: int) -> int:
    """The key's partition, if splitting by partition keeps its account whole; else raise."""
    if expected_partition(key, partitions) != partition:
        raise _Unsplittable(f"key {key!r} is in {topic}[{partition}], not in its murmur2 partition")
    if not key.isascii():
        try:
            key.decode("utf-8")
        except UnicodeDecodeError:  # its account_id text could equal another key's
            raise _Unsplittable(f"key {key!r} is not UTF-8") from None
    return partition


async def _replay_parallel(settings: Settings, workers: int,
                           partitions: int) -> tuple[dict[str, dict[str, Any]], int, int]:
    """Shares 1.. in forked processes, share 0 here; per-scope totals summed, spend merged by id."""
    children: list[tuple[int, int]] = []
    try:
        for share in range(1, workers):
            children.append(_fork_share(settings, _Split(share, workers, partitions)))
        acc, totals, total, rejected = await _replay_share(settings, _Split(0, workers, partitions))
        parts = [totals]
        spends = dict(acc.spends)
        loop = asyncio.get_running_loop()
        for pid, fd in children:
            payload = await loop.run_in_executor(None, _read_all, fd)
            status, body = pickle.loads(payload) if payload else ("error", "no result")
            if status == "unsplittable":
                raise _Unsplittable(body)
            if status != "ok":
                raise RuntimeError(f"replay worker {pid} failed: {body}")
            wire, child_spends, child_total, child_rejected = body
            parts.append({scope: Partial.from_json(doc) for scope, doc in orjson.loads(wire).items()})
            for spend_id, ev in child_spends.items():
                spends.setdefault(spend_id, ev)
            total += child_total
            rejected += child_rejected
    finally:
        for pid, fd in children:
            try:
                os.close(fd)
            except OSError:
                pass  # already read and closed
            try:
                if os.waitpid(pid, os.WNOHANG) == (0, 0):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    totals = combine(parts)
    for ev in spends.values():
        add_spend(ev, totals)
    return finalize_all(totals), total, rejected


def _fork_share(settings: Settings, split: _Split) -> tuple[int, int]:
    """Replay one share in a forked process; returns its pid and the pipe its pickled result arrives on."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_fd)
        return pid, read_fd
    # The child: never return into the parent's event loop; leave with os._exit whatever happens.
    status = 1
    try:
        os.close(read_fd)
        try:
            _acc, totals, total, rejected = asyncio.run(_replay_share(settings, split))
            # The wire form: the "latest" multiset cut to its maximum, all the records show of it
            # (a sixth of the bytes, and the parent reads it back at C speed).
            wire = orjson.dumps({scope: part.to_wire() for scope, part in totals.items()})
            payload = pickle.dumps(("ok", (wire, _acc.spends, total, rejected)), protocol=pickle.HIGHEST_PROTOCOL)
            status = 0
        except _Unsplittable as exc:
            payload = pickle.dumps(("unsplittable", str(exc)))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
            payload = pickle.dumps(("error", repr(exc)))
        with os.fdopen(write_fd, "wb") as out:
            out.write(payload)
    finally:
        os._exit(status)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


async def live_scorecards(settings: Settings) -> dict[str, dict[str, Any]]:
    """The latest record per scope on ``m2c.scorecard`` (a tombstone removes the scope)."""
    latest: dict[str, dict[str, Any]] = {}
    async for batch in read_to_end(settings.bootstrap_servers, [TopicNames(settings.topic_prefix).scorecard]):
        for rec in batch:
            scope = rec.key.decode() if rec.key else ""
            if rec.value is None:
                latest.pop(scope, None)
            else:
                latest[scope] = orjson.loads(rec.value)
    return latest


def differences(live: dict[str, dict[str, Any]], replayed: dict[str, dict[str, Any]]) -> list[str]:
    """One line per scope/figure that differs, e.g. ``all.bookings: live {...} != replay {...}``."""
    lines = []
    for scope in sorted(set(live) | set(replayed)):
        a, b = live.get(scope), replayed.get(scope)
        if a is None:
            lines.append(f"{scope}: missing from live m2c.scorecard")
            continue
        if b is None:
            lines.append(f"{scope}: in live m2c.scorecard but not in the replay")
            continue
        for field in sorted(set(a) | set(b)):
            if a.get(field) != b.get(field):
                lines.append(f"{scope}.{field}: live {a.get(field)!r} != replay {b.get(field)!r}")
    return lines


async def compare(settings: Settings, wait_seconds: float = 0.0) -> tuple[ReplayResult, list[str]]:
    """Replay once; re-read the live scorecard until it matches or ``wait_seconds`` pass."""
    result = await replay_inputs(settings)
    deadline = time.monotonic() + wait_seconds
    while True:
        diff = differences(await live_scorecards(settings), result.records)
        if not diff or time.monotonic() >= deadline:
            return result, diff
        await asyncio.sleep(1.0)
