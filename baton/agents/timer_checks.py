"""Sends due timer checks (lead follow-up windows, missing payments) back to intake.

See ``baton.streams.timers`` for why checks are derived from state rather
than stored, and how a check fires exactly once.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import orjson

from baton.streams.output_batch import OutputBatch
from baton.streams.partitioning import expected_partition

if TYPE_CHECKING:
    from baton.streams.app import BatonApp

log = logging.getLogger(__name__)


def register(baton: "BatonApp") -> None:
    app, settings = baton.faust, baton.settings
    topic = baton.timers.get_topic_name()

    @app.timer(interval=settings.timer_tick_seconds, name="due-checks")
    async def send_due_checks() -> None:
        out = OutputBatch()
        for due in baton.due_queue.pop_due(int(time.time() * 1000)):
            key = due.account_id.encode()
            record = {"account_id": due.account_id, "check": due.check, "ref": due.ref, "due_ms": due.due_ms}
            out.add(topic, key, orjson.dumps(record), partition=expected_partition(key, baton.partitions))
        await baton.send_output(out)
