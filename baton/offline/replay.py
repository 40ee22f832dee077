"""`baton replay`: recompute the scorecard from the input topics and compare it with the live one.

The replay decodes every input record with the same ``decode`` the worker
uses (so the same records are rejected) and folds them with the same pure
functions (``baton.scorecard.replay``). A difference means live state has
drifted from the events: the output names each scope and figure.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import orjson

from baton.offline.topic_reader import read_to_end
from baton.scorecard import replay as replay_events
from baton.settings import Settings
from baton.streams.decode import DeadLetter, RecordRef, decode
from baton.streams.topics import TopicNames


@dataclass
class ReplayResult:
    records: dict[str, dict[str, Any]]
    events: int
    rejected: int
    seconds: float


async def replay_inputs(settings: Settings) -> ReplayResult:
    names = TopicNames(settings.topic_prefix)
    started = time.perf_counter()
    events, rejected, total = [], 0, 0
    async for batch in read_to_end(settings.bootstrap_servers, names.inputs):
        for rec in batch:
            total += 1
            out = decode(RecordRef(rec.topic, rec.partition, rec.offset, rec.key, rec.timestamp), rec.value)
            if isinstance(out, DeadLetter):
                rejected += 1
            else:
                events.append(out)
    records = replay_events(events, sla_seconds=settings.sla_windows)
    return ReplayResult(records, total - rejected, rejected, time.perf_counter() - started)


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
