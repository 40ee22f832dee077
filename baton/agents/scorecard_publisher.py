"""The scorecard, from per-partition totals to ``m2c.scorecard``, coalesced per flush.

Each worker owns the totals of its input partitions (``baton.part_cards``).
Every flush it publishes what changed in each scope of each as a message on the
internal ``scorecard-parts`` topic, keyed ``scope#partition`` and sent to the
partition of the scope, so all parts of one scope meet in one place: the whole
*part* the first time and about once a minute after, else a *patch* with the
current values of the keys that changed (a scope's part grows with the history,
e.g. its response-time multiset; a flush must not). The combiner agent there
keeps the parts in a changelog-backed table and their sums in memory
(``baton.scorecard.part_store``) and, once per flush, publishes each changed
scope's record on ``m2c.scorecard``. Messages carry values, not increments: a
repeated one changes nothing, and the next whole part mends a lost one.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import weakref
from typing import TYPE_CHECKING

import orjson

from baton.scorecard import Scorecard
from baton.scorecard.part_store import PartStore, part_message
from baton.streams.output_batch import OutputBatch
from baton.streams.partitioning import expected_partition
from baton.streams.timer_phase import phased

if TYPE_CHECKING:
    from baton.streams.app import BatonApp

log = logging.getLogger(__name__)

# Kafka's default largest record is ~1 MB; a part is bounded far below it (to_wire), so
# this only trips on a bug, which must not stop the worker from publishing other scopes.
MAX_PART_BYTES = 900_000
YIELD_EVERY = 5  # scopes between yields to the event loop (a big scope's record takes ~1 ms)
# A changed scope's part goes whole again after about this long (jittered, so the big
# scopes of all partitions do not go whole in the same flush): what mends a lost patch.
WHOLE_EVERY_SECONDS = 60.0


def part_key(scope: str, partition: int) -> bytes:
    return f"{scope}#{partition}".encode()


def register(baton: "BatonApp") -> None:
    app = baton.faust
    interval = baton.settings.flush_interval_seconds
    parts_topic, scorecard_topic = baton.parts_topic.get_topic_name(), baton.scorecard.get_topic_name()

    # card -> scope -> when its part is due whole again; a new card (a rebuild) starts empty.
    wholes_due: weakref.WeakKeyDictionary[Scorecard, dict[str, float]] = weakref.WeakKeyDictionary()

    def message(card: Scorecard, due: dict[str, float], partition: int, scope: str, keys: set,
                now: float) -> bytes:
        part = card.partials.get(scope)
        if part is None:
            due.pop(scope, None)  # should it come back, it starts whole
        elif due.get(scope, now) <= now:
            due[scope] = now + WHOLE_EVERY_SECONDS * random.uniform(0.5, 1.0)
            keys = None  # whole
        return orjson.dumps(part_message(scope, partition, part, keys))

    @app.timer(interval=interval, name="scorecard-parts-flush")
    async def publish_parts() -> None:
        out = OutputBatch()
        now = time.monotonic()
        for partition, card in list(baton.part_cards.items()):
            due = wholes_due.setdefault(card, {})
            for n, (scope, keys) in enumerate(card.take_changes().items(), 1):
                if n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # a flush of many scopes must not stall deliveries for long
                value = message(card, due, partition, scope, keys, now)
                if len(value) > MAX_PART_BYTES:
                    log.error("scorecard part %s#%d is %d bytes, past the %d a Kafka record carries: not "
                              "published, so scope %r lags until it shrinks (please report this)",
                              scope, partition, len(value), MAX_PART_BYTES, scope)
                    due.pop(scope, None)  # the next message must be whole
                    continue
                out.add(parts_topic, part_key(scope, partition), value,
                        partition=expected_partition(scope.encode(), baton.partitions))
        await baton.send_output(out)

    def stored_part(scope: str, partition: int) -> dict | None:
        raw = baton.scorecard_parts.get(part_key(scope, partition))
        return orjson.loads(raw) if raw else None

    store = baton.part_store = PartStore(baton.partitions, stored_part)

    @app.agent(baton.parts_topic, name="scorecard-combiner")
    async def combine_parts(stream):
        async for event in stream.events():
            try:
                scope, _, part = store.apply(orjson.loads(event.message.value))
            except (ValueError, TypeError, AttributeError) as exc:
                # Only Baton writes this topic, so this is a bug or a foreign producer: skip
                # the record, keep combining the others (the next whole part mends the scope).
                baton.metrics.unreadable_state_entries += 1
                log.error("scorecard-parts record at offset %s is not a part message (%s: %s): skipped",
                          event.message.offset, type(exc).__name__, exc)
                continue
            key = event.message.key
            if part:
                baton.scorecard_parts[key] = orjson.dumps(part)
            elif key in baton.scorecard_parts:
                del baton.scorecard_parts[key]
            baton.dirty_scopes.add(scope)

    @app.timer(interval=interval, name="scorecard-flush")
    @phased(0.25, interval)  # after the combiner has taken the parts, apart from the other flushes
    async def publish_scorecards() -> None:
        dirty, baton.dirty_scopes = baton.dirty_scopes, set()
        out = OutputBatch()
        for n, scope in enumerate(sorted(dirty), 1):
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            record = store.record(scope)
            # A tombstone when the scope became empty. Readers (the views, the plan
            # watch) follow the topic itself: baton.agents.scorecard_view.
            value = None if record is None else orjson.dumps(record)
            out.add(scorecard_topic, scope.encode(), value)
        await baton.send_output(out)

    async def republish_after_recovery() -> None:
        # The table may hold parts other workers combined meanwhile: read it afresh.
        store.clear()
        # Parts recorded just before a crash may not have reached m2c.scorecard: publish every scope again.
        scopes = {key.decode().rsplit("#", 1)[0] for key in baton.scorecard_parts.keys()}
        baton.dirty_scopes |= scopes

    baton.scorecard_parts.on_recover(republish_after_recovery)
