"""Every worker's read model of ``m2c.scorecard``: the whole scorecard, whoever combined it.

The combiner of a scope lives on one worker (the owner of the scope's
partition of ``scorecard-parts``), so with several workers no single one
combines every scope. Each worker therefore follows the compacted
``m2c.scorecard`` topic with a plain consumer (no group: it commits nothing)
into ``baton.scorecards``, which the HTTP views and the plan watch read.
``baton.scorecards_ready`` turns true once the topic has been read up to its
end as of start-up: before that, a half-read scorecard would look like a collapse.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

if TYPE_CHECKING:
    from baton.streams.app import BatonApp

log = logging.getLogger(__name__)


def register(baton: "BatonApp") -> None:
    app, settings = baton.faust, baton.settings
    topic = baton.names.scorecard

    @app.task
    async def follow_scorecard() -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(baton.partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=5000)
                for records in batches.values():
                    for rec in records:
                        scope = rec.key.decode() if rec.key else ""
                        if rec.value is None:
                            baton.scorecards.pop(scope, None)
                        else:
                            baton.scorecards[scope] = orjson.loads(rec.value)
                if not baton.scorecards_ready and all(
                        [await consumer.position(tp) >= end for tp, end in ends.items()]):
                    baton.scorecards_ready = True
                    log.info("scorecard view caught up: %d scopes", len(baton.scorecards))
        except asyncio.CancelledError:
            raise
        finally:
            await consumer.stop()
