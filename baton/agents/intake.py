"""The intake agent: every input record -> dead letter, or state + notifications.

Per contract record: decode and validate (bad input goes to ``m2c.deadletter``
with its reason and the stream goes on), add the event to its account's
history in the ``accounts`` table, queue the account for the coalesced
``m2c.funnel`` output, schedule its timer checks, and send the notifications
its rules decide on to ``m2c.notifications``.

Per due timer check (Baton's internal ``timers`` topic): run the check against
the account's state and, if it fires, record it in the history and notify.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import orjson

from baton.funnel.fold import fold
from baton.funnel.history import AccountHistory, compact
from baton.rules.drafts import Draft
from baton.rules.timer_rules import LEAD_SLA, PAYMENT_MISSING, lead_sla_breach, payment_missing
from baton.streams.decode import DeadLetter, RecordRef, decode, dumps
from baton.streams.decode import dead_letter as build_dead_letter
from baton.streams.partitioning import expected_partition
from baton.streams.processor import source_of, step
from baton.streams.timers import open_checks

if TYPE_CHECKING:
    from baton.streams.app import BatonApp

log = logging.getLogger(__name__)

# Kafka's default largest record is ~1 MB (producer max.request.size, broker message.max.bytes).
MAX_STATE_BYTES = 900_000
MAX_DEAD_LETTER_BYTES = 900_000
KEPT_RAW_CHARS = 100_000


def fit_dead_letter(dl: DeadLetter) -> bytes:
    """The dead letter's bytes, with ``raw`` cut short if the whole would not fit in a Kafka record.

    Nothing is lost by the cut: the reason says so, and the original record stays at
    its topic, partition and offset (for the input topic's retention).
    """
    value = dumps(dl)
    if len(value) <= MAX_DEAD_LETTER_BYTES:
        return value
    note = (f" [raw cut to its first {KEPT_RAW_CHARS:,} characters: the record is {len(value):,} bytes as a dead "
            f"letter; the original is at {dl.topic} partition {dl.partition} offset {dl.offset}]")
    return dumps(dl.model_copy(update={"raw": dl.raw[:KEPT_RAW_CHARS], "raw_base64": None,
                                       "reason": dl.reason + note}))


def register(baton: "BatonApp") -> None:
    app, names, metrics, settings = baton.faust, baton.names, baton.metrics, baton.settings
    accounts = baton.accounts
    warned_misrouted: set[str] = set()

    async def dead_letter(dl: DeadLetter, key: bytes | None) -> None:
        metrics.dead_letters += 1
        log.warning("dead letter from %s[%d]@%d: %s", dl.topic, dl.partition, dl.offset, dl.reason[:300])
        await baton.deadletter.send(key=key, value=fit_dead_letter(dl))

    async def reject(msg, reason: str) -> None:
        """Dead-letter a record that decoded fine but cannot be processed; the stream goes on."""
        ref = RecordRef(msg.topic, msg.partition, msg.offset, msg.key)
        await dead_letter(build_dead_letter(ref, msg.value, reason), msg.key)

    async def notify(key: bytes, draft: Draft) -> None:
        notification = baton.notification(draft)
        if notification is None:
            return  # the rule is switched off
        await baton.notifications.send(key=key, value=orjson.dumps(notification.model_dump(mode="json")))
        metrics.notifications += 1

    def load(key: bytes, account_id: str) -> AccountHistory:
        raw = accounts.get(key)
        return AccountHistory.from_bytes(raw) if raw else AccountHistory(account_id)

    def check_partitioning(topic: str, partition: int, key: bytes) -> None:
        # The account table only works if a producer partitions by murmur2(account_id);
        # say so loudly (once per topic) instead of silently splitting an account's state.
        expected = expected_partition(key, baton.partitions)
        if expected != partition:
            metrics.misrouted_records += 1
            if topic not in warned_misrouted:
                warned_misrouted.add(topic)
                log.error(
                    "records on %s are not partitioned by murmur2(account_id) (key %r is in partition %d, "
                    "expected %d): per-account ordering and state break. Producers using librdkafka must set "
                    "partitioner=murmur2_random.", topic, key, partition, expected)

    async def handle_record(msg) -> None:
        ref = RecordRef(msg.topic, msg.partition, msg.offset, msg.key,
                        int(msg.timestamp * 1000) if msg.timestamp else None)
        decoded = decode(ref, msg.value)
        if isinstance(decoded, DeadLetter):
            await dead_letter(decoded, msg.key)
            return
        metrics.by_type[decoded.type] = metrics.by_type.get(decoded.type, 0) + 1
        if decoded.account_id is None:  # spend.recorded: no account, scorecard only
            await handle_spend(msg, decoded)
            return

        key = msg.key  # equals account_id: decode() checked it
        check_partitioning(msg.topic, msg.partition, key)
        history = load(key, decoded.account_id)
        ev = compact(decoded)
        ev["src"] = source_of(names.short(msg.topic), msg.partition, msg.offset)
        result = step(history, ev, settings.sla_seconds)
        if result.duplicate:
            metrics.events_duplicate += 1
            return
        if result.redelivered:
            metrics.events_redelivered += 1
        else:
            metrics.events_valid += 1
        for draft in result.drafts:
            await notify(key, draft)
        if result.changed:
            stored = history.to_bytes()
            if len(stored) > MAX_STATE_BYTES:
                await reject(msg, f"the account's history would grow to {len(stored):,} bytes, past the "
                                  f"{MAX_STATE_BYTES:,} a Kafka record can carry: this event is not counted. "
                                  "Check the producer for a loop or oversized fields")
                return
            accounts[key] = stored
            count_in_scorecard(msg.partition, baton.part_cards.get(msg.partition), result)
            for due in open_checks(result.state, history, settings.sla_seconds, settings.payment_missing_days):
                baton.due_queue.push(due)
        baton.pending_funnel[key] = result.state

    def count_in_scorecard(partition: int, card, result) -> None:
        if card is None:  # not yet recovered: the rebuild after recovery counts it
            return
        baton.dirty_parts.setdefault(partition, set()).update(card.apply_account(result.previous, result.state))

    async def handle_spend(msg, decoded) -> None:
        # One table entry per spend event id (written in this record's partition, whatever
        # the key): dedup by id, and no entry grows with a campaign's spend history.
        key = decoded.id.encode()
        if key in baton.spend:
            metrics.events_duplicate += 1
            return
        ev = compact(decoded)
        ev["src"] = source_of(names.short(msg.topic), msg.partition, msg.offset)
        metrics.events_valid += 1
        baton.spend[key] = orjson.dumps(ev)
        card = baton.part_cards.get(msg.partition)
        if card is not None:
            baton.dirty_parts.setdefault(msg.partition, set()).update(card.apply_spend(ev))

    async def handle_due(msg) -> None:
        try:
            due = orjson.loads(msg.value)
            account_id, check, ref = due["account_id"], due["check"], due["ref"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.error("ignoring malformed timer record at %s[%d]@%d", msg.topic, msg.partition, msg.offset)
            return
        key = account_id.encode()
        history = load(key, account_id)
        check_id = f"{check}:{ref}"
        src = source_of(names.short(msg.topic), msg.partition, msg.offset)
        fired_by = history.fired.get(check_id)
        if fired_by is not None and fired_by != src:
            return  # fired before: a check fires once
        state = fold(history)
        if check == LEAD_SLA:
            draft = lead_sla_breach(state, ref, settings.sla_seconds, int(time.time() * 1000))
        elif check == PAYMENT_MISSING:
            draft = payment_missing(state, ref, settings.payment_missing_days)
        else:
            log.error("unknown timer check %r", check)
            return
        if draft is None:
            return
        await notify(key, draft)  # the same due record after a crash re-sends the same id
        if fired_by is None:
            history.fired[check_id] = src
            accounts[key] = history.to_bytes()

    @app.agent(baton.inputs, name="intake")
    async def intake(stream):
        async for event in stream.events():
            msg = event.message
            try:
                if msg.topic == baton.timers_topic_name:
                    await handle_due(msg)
                else:
                    await handle_record(msg)
            except Exception as exc:  # noqa: BLE001 - one bad record must never stop the stream
                log.exception("failed to process %s[%d]@%d", msg.topic, msg.partition, msg.offset)
                await reject(msg, f"Baton failed to process this record ({type(exc).__name__}: {exc}); "
                                  "it is kept here so it can be replayed once the cause is fixed")
