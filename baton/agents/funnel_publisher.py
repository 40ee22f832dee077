"""Coalesced ``m2c.funnel`` output: one record per changed account per flush.

The intake agent only marks accounts as changed; this timer publishes each
marked account's latest state once per ``flush_interval_seconds``, so a burst
of events for one account costs one output record, not one per event.
After a restart, recovery (``baton.agents.recovery``) marks every local
account again, so a change whose record was lost with the crash is still
published.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import orjson

from baton.streams.output_batch import OutputBatch


if TYPE_CHECKING:
    from baton.streams.app import BatonApp

log = logging.getLogger(__name__)
CHUNK = 500  # records between yields to the event loop


def register(baton: "BatonApp") -> None:
    app = baton.faust
    topic = baton.funnel.get_topic_name()

    @app.timer(interval=baton.settings.flush_interval_seconds, name="funnel-flush")
    async def flush_funnel() -> None:
        if not baton.pending_funnel:
            return
        pending, baton.pending_funnel = baton.pending_funnel, {}
        out = OutputBatch()
        for n, (key, state) in enumerate(pending.items(), 1):
            out.add(topic, key, orjson.dumps(state.as_json()))
            if n % CHUNK == 0:
                # After a recovery every account is pending (a million, at scale): send in
                # chunks and let the intake, the web views and the heartbeats run between them.
                await baton.send_output(out)
                await asyncio.sleep(0)
        await baton.send_output(out)
        baton.metrics.funnel_records += len(pending)
