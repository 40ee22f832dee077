"""The intake agent: every input record -> dead letter, or state + notifications.

Per record: decode and validate (bad input goes to ``m2c.deadletter`` with its
reason and the stream goes on), add the event to its account's history in the
``accounts`` table, queue the account for the coalesced ``m2c.funnel`` output,
and send the notifications its rules decide on to ``m2c.notifications``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import orjson

from baton.funnel.history import AccountHistory, compact
from baton.rules.drafts import to_notification
from baton.streams.decode import DeadLetter, RecordRef, decode, dumps
from baton.streams.partitioning import expected_partition
from baton.streams.processor import source_of, step

if TYPE_CHECKING:
    from baton.streams.app import BatonApp

log = logging.getLogger(__name__)


def register(baton: "BatonApp") -> None:
    app, names, metrics = baton.faust, baton.names, baton.metrics
    accounts = baton.accounts
    warned_misrouted: set[str] = set()

    async def dead_letter(dl: DeadLetter, key: bytes | None) -> None:
        metrics.dead_letters += 1
        log.warning("dead letter from %s[%d]@%d: %s", dl.topic, dl.partition, dl.offset, dl.reason)
        await baton.deadletter.send(key=key, value=dumps(dl))

    def check_partitioning(topic: str, partition: int, key: bytes) -> None:
        # The account table only works if a producer partitions by murmur2(account_id);
        # say so loudly (once per topic) instead of silently splitting an account's state.
        if expected_partition(key, baton.partitions) != partition:
            metrics.misrouted_records += 1
            if topic not in warned_misrouted:
                warned_misrouted.add(topic)
                log.error(
                    "records on %s are not partitioned by murmur2(account_id) (key %r is in partition %d, "
                    "expected %d): per-account ordering and state break. Producers using librdkafka must set "
                    "partitioner=murmur2_random.", topic, key, partition, expected_partition(key, baton.partitions))

    @app.agent(baton.inputs, name="intake")
    async def intake(stream):
        async for event in stream.events():
            msg = event.message
            ref = RecordRef(msg.topic, msg.partition, msg.offset, msg.key,
                            int(msg.timestamp * 1000) if msg.timestamp else None)
            decoded = decode(ref, msg.value)
            if isinstance(decoded, DeadLetter):
                await dead_letter(decoded, msg.key)
                continue
            metrics.by_type[decoded.type] = metrics.by_type.get(decoded.type, 0) + 1
            if decoded.account_id is None:  # spend.recorded: no account (scorecard, issue 3)
                metrics.events_valid += 1
                continue

            key = msg.key  # equals account_id (decode checked it)
            check_partitioning(msg.topic, msg.partition, key)
            raw = accounts.get(key)
            history = AccountHistory.from_bytes(raw) if raw else AccountHistory(decoded.account_id)
            ev = compact(decoded)
            ev["src"] = source_of(names.short(msg.topic), msg.partition, msg.offset)
            result = step(history, ev, baton.settings.sla_seconds)

            if result.duplicate:
                metrics.events_duplicate += 1
                continue
            if result.redelivered:
                metrics.events_redelivered += 1
            else:
                metrics.events_valid += 1
            for draft in result.drafts:
                notification = to_notification(draft, baton.router)
                await baton.notifications.send(key=key, value=orjson.dumps(notification.model_dump(mode="json")))
                metrics.notifications += 1
            if result.changed:
                accounts[key] = history.to_bytes()
            baton.pending_funnel[key] = result.state
