"""Sends due timer checks (lead follow-up windows, missing payments) back to intake.

See ``baton.streams.timers`` for why checks are derived from state rather
than stored, and how a check fires exactly once.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import orjson

from baton.funnel.fold import fold
from baton.funnel.history import AccountHistory
from baton.streams.partitioning import expected_partition
from baton.streams.timers import open_checks

if TYPE_CHECKING:
    from baton.streams.app import BatonApp

log = logging.getLogger(__name__)


def register(baton: "BatonApp") -> None:
    app, settings = baton.faust, baton.settings

    @app.timer(interval=settings.timer_tick_seconds, name="due-checks")
    async def send_due_checks() -> None:
        for due in baton.due_queue.pop_due(int(time.time() * 1000)):
            key = due.account_id.encode()
            record = {"account_id": due.account_id, "check": due.check, "ref": due.ref, "due_ms": due.due_ms}
            await baton.timers.send(key=key, value=orjson.dumps(record),
                                    partition=expected_partition(key, baton.partitions))

    async def reschedule_after_recovery() -> None:
        count = 0
        for key, raw in baton.accounts.items():
            history = AccountHistory.from_bytes(raw)
            for due in open_checks(fold(history), history, settings.sla_seconds, settings.payment_missing_days):
                baton.due_queue.push(due)
                count += 1
        if count:
            log.info("recovery: %d open timer checks scheduled (overdue ones fire now)", count)

    baton.accounts.on_recover(reschedule_after_recovery)
