"""The scorecard, from per-partition totals to ``m2c.scorecard``, coalesced per flush.

Each worker owns the totals of its input partitions (``baton.part_cards``).
Every flush it publishes the changed scopes of each as a *part* on the
internal ``scorecard-parts`` topic, keyed ``scope#partition`` and sent to the
partition of the scope, so all parts of one scope meet in one place. The
combiner agent there keeps the parts in a changelog-backed table and, once
per flush, sums them into the scope's record on ``m2c.scorecard``. Parts are
whole totals, not deltas: a lost or repeated part heals with the next one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import orjson

from baton.scorecard import Partial, combine
from baton.streams.output_batch import OutputBatch
from baton.streams.partitioning import expected_partition

if TYPE_CHECKING:
    from baton.streams.app import BatonApp

log = logging.getLogger(__name__)

# Kafka's default largest record is ~1 MB; a part is bounded far below it (to_wire), so
# this only trips on a bug, which must not stop the worker from publishing other scopes.
MAX_PART_BYTES = 900_000
YIELD_EVERY = 20  # scopes serialised between yields to the event loop


def part_key(scope: str, partition: int) -> bytes:
    return f"{scope}#{partition}".encode()


def register(baton: "BatonApp") -> None:
    app = baton.faust
    interval = baton.settings.flush_interval_seconds
    parts_topic, scorecard_topic = baton.parts_topic.get_topic_name(), baton.scorecard.get_topic_name()

    @app.timer(interval=interval, name="scorecard-parts-flush")
    async def publish_parts() -> None:
        dirty, baton.dirty_parts = baton.dirty_parts, {}
        out = OutputBatch()
        for partition, scopes in dirty.items():
            card = baton.part_cards.get(partition)
            if card is None:
                continue  # revoked meanwhile: its new owner publishes it
            for n, scope in enumerate(scopes, 1):
                if n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # a flush of many scopes must not stall deliveries for long
                part = card.partials.get(scope)
                value = orjson.dumps({"scope": scope, "partition": partition,
                                      "part": part.to_wire() if part else None})
                if len(value) > MAX_PART_BYTES:
                    log.error("scorecard part %s#%d is %d bytes, past the %d a Kafka record carries: not "
                              "published, so scope %r lags until it shrinks (please report this)",
                              scope, partition, len(value), MAX_PART_BYTES, scope)
                    continue
                out.add(parts_topic, part_key(scope, partition), value,
                        partition=expected_partition(scope.encode(), baton.partitions))
            await baton.send_output(out)

    @app.agent(baton.parts_topic, name="scorecard-combiner")
    async def combine_parts(stream):
        async for event in stream.events():
            doc = orjson.loads(event.message.value)
            key = event.message.key
            if doc.get("part"):
                baton.scorecard_parts[key] = orjson.dumps(doc["part"])
            elif key in baton.scorecard_parts:
                del baton.scorecard_parts[key]
            baton.dirty_scopes.add(doc["scope"])

    def combined(scope: str) -> dict | None:
        parts = []
        for partition in range(baton.partitions):
            raw = baton.scorecard_parts.get(part_key(scope, partition))
            if raw:
                parts.append({scope: Partial.from_json(orjson.loads(raw))})
        total = combine(parts).get(scope)
        return total.finalize(scope) if total is not None else None

    @app.timer(interval=interval, name="scorecard-flush")
    async def publish_scorecards() -> None:
        dirty, baton.dirty_scopes = baton.dirty_scopes, set()
        out = OutputBatch()
        for n, scope in enumerate(sorted(dirty), 1):
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            record = combined(scope)
            # A tombstone when the scope became empty. Readers (the views, the plan
            # watch) follow the topic itself: baton.agents.scorecard_view.
            value = None if record is None else orjson.dumps(record)
            out.add(scorecard_topic, scope.encode(), value)
        await baton.send_output(out)

    async def republish_after_recovery() -> None:
        # Parts recorded just before a crash may not have reached m2c.scorecard: publish every scope again.
        scopes = {key.decode().rsplit("#", 1)[0] for key in baton.scorecard_parts.keys()}
        baton.dirty_scopes |= scopes

    baton.scorecard_parts.on_recover(republish_after_recovery)
