"""The intake agent: every input record -> dead letter, or state + notifications.

Per contract record: decode and validate (bad input goes to ``m2c.deadletter``
with its reason and the stream goes on), add the event to its account's
history, queue the account for the coalesced ``m2c.funnel`` output, schedule
its timer checks, and send the notifications its rules decide on to
``m2c.notifications``.

Per due timer check (Baton's internal ``timers`` topic): run the check against
the account's state and, if it fires, record it in the history and notify.

Records are taken in batches, from Faust's conductor through the intake's
feed (``baton.streams.intake_feed``; a Faust agent with ``stream.take_events``
when ``intake_feed`` is off): each account's history is written to the
``accounts`` table once per batch, not once per event (a table write is
Faust's dearest operation), and recently seen accounts stay decoded in
``baton.account_cache``. A batch's records are acknowledged only after the
whole batch was handled and Kafka acknowledged its output, batches in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from operator import attrgetter
from typing import TYPE_CHECKING

import orjson
from faust.types import TP

from baton.funnel.fold import fold
from baton.funnel.history import AccountHistory, compact
from baton.rules.drafts import Draft
from baton.rules.timer_rules import LEAD_SLA, PAYMENT_MISSING, lead_sla_breach, payment_missing
from baton.streams.account_cache import CachedAccount
from baton.streams.current_event import in_event
from baton.streams.intake_delay import fetched_at
from baton.streams.intake_feed import IntakeFeed
from baton.streams.output_batch import OutputBatch
from baton.streams.decode import DeadLetter, RecordRef, decode, dumps
from baton.streams.decode import dead_letter as build_dead_letter
from baton.streams.partitioning import expected_partition
from baton.streams.processor import same_record, source_of, step
from baton.streams.records import Notification
from baton.streams.timers import open_checks

if TYPE_CHECKING:
    from baton.streams.app import BatonApp

log = logging.getLogger(__name__)

# Kafka's default largest record is ~1 MB (producer max.request.size, broker message.max.bytes).
MAX_STATE_BYTES = 900_000
MAX_DEAD_LETTER_BYTES = 900_000
KEPT_RAW_CHARS = 100_000
# A batch closes at this many records or after ``settings.intake_batch_seconds``, whichever
# comes first: the wait bounds the latency a batch adds when records trickle in.
BATCH_MAX_RECORDS = 500


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


class Batch:
    """What one batch of records produces, sent at its end.

    ``writes``: the accounts it changed, with their stored bytes and the last event of
    each; ``out``: the notifications, dead letters and table changelog records; ``notes``:
    its notifications, to hand over to the delivery lanes as ``out`` is sent.
    """

    __slots__ = ("writes", "out", "notes")

    def __init__(self) -> None:
        self.writes: dict[bytes, tuple[bytes, object]] = {}
        self.out = OutputBatch()
        self.notes: list[tuple[bytes, Notification]] = []  # for the hand-over, as ``out`` is sent


def register(baton: "BatonApp") -> None:
    app, names, metrics, settings = baton.faust, baton.names, baton.metrics, baton.settings
    accounts, cache = baton.accounts, baton.account_cache
    warned_misrouted: set[str] = set()

    deadletter_topic = baton.deadletter.get_topic_name()
    notifications_topic = baton.notifications.get_topic_name()

    def dead_letter(batch: Batch, dl: DeadLetter, key: bytes | None) -> None:
        metrics.dead_letters += 1
        log.warning("dead letter from %s[%d]@%d: %s", dl.topic, dl.partition, dl.offset, dl.reason[:300])
        batch.out.add(deadletter_topic, key, fit_dead_letter(dl))

    def reject(batch: Batch, msg, reason: str) -> None:
        """Dead-letter a record that decoded fine but cannot be processed; the stream goes on."""
        ref = RecordRef(msg.topic, msg.partition, msg.offset, msg.key)
        dead_letter(batch, build_dead_letter(ref, msg.value, reason), msg.key)

    def notify(batch: Batch, key: bytes, draft: Draft) -> None:
        notification = baton.notification(draft)
        if notification is None:
            return  # the rule is switched off
        batch.out.add(notifications_topic, key, orjson.dumps(notification.model_dump(mode="json")))
        batch.notes.append((key, notification))
        metrics.notifications += 1

    def load(batch: Batch, key: bytes, account_id: str) -> CachedAccount:
        entry = cache.get(key)
        if entry is None:
            written = batch.writes.get(key)
            raw = written[0] if written is not None else accounts.get(key)
            history = AccountHistory.from_bytes(raw) if raw else AccountHistory(account_id)
            entry = CachedAccount(history, fold(history) if history.events else None)
            cache.put(key, entry)
        return entry

    def forget(batch: Batch, key: bytes) -> None:
        """Drop what memory holds of an account beyond what is stored (an event that was
        rejected or failed half-way may have changed its cached history and state in place).

        The account's stored state is queued for ``m2c.funnel`` again: a flush running
        meanwhile may hold the state object that was changed in place, and may publish it.
        """
        dropped = cache.drop(key)
        if dropped is not None or key in baton.pending_funnel:
            written = batch.writes.get(key)
            raw = written[0] if written is not None else accounts.get(key)
            if not raw:
                baton.pending_funnel.pop(key, None)
                return
            try:
                baton.pending_funnel[key] = fold(AccountHistory.from_bytes(raw))
            except Exception:  # noqa: BLE001 - called while handling a failure: never raise from here
                log.exception("cannot re-read account %r after a failed event; its m2c.funnel record waits for "
                              "its next event", key)
                baton.pending_funnel.pop(key, None)

    def store(batch: Batch, key: bytes, entry: CachedAccount, stored: bytes, event) -> None:
        batch.writes[key] = (stored, event)
        cache.put(key, entry)  # again: a small cache may have let it go meanwhile

    changelog = accounts.changelog_topic.get_topic_name()

    def write_batch(batch: Batch) -> None:
        # What ``accounts[key] = stored`` does, with the changelog record in the batch's output
        # instead of Faust's per-record send: the store is written in the event's context
        # (its partition), and a RocksDB store learns the changelog offset it has.
        partitions = set()
        for key, (stored, event) in batch.writes.items():
            partition = event.message.partition
            in_event(event)
            batch.out.add(changelog, key, stored, partition=partition)
            accounts.data[key] = stored
            partitions.add(partition)
        for partition in partitions:
            batch.out.on_sent(changelog, partition, _persisted(TP(changelog, partition)))

    def _persisted(tp: TP):
        return lambda offset: accounts.data.set_persisted_offset(tp, offset)

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

    async def handle_record(batch: Batch, event) -> None:
        msg = event.message
        ref = RecordRef(msg.topic, msg.partition, msg.offset, msg.key,
                        int(msg.timestamp * 1000) if msg.timestamp else None)
        decoded = decode(ref, msg.value)
        if isinstance(decoded, DeadLetter):
            dead_letter(batch, decoded, msg.key)
            return
        metrics.by_type[decoded.type] = metrics.by_type.get(decoded.type, 0) + 1
        if decoded.account_id is None:  # spend.recorded: no account, scorecard only
            await handle_spend(msg, decoded)
            return

        key = msg.key  # equals account_id: decode() checked it
        check_partitioning(msg.topic, msg.partition, key)
        entry = load(batch, key, decoded.account_id)
        history = entry.history
        ev = compact(decoded)
        ev["src"] = source_of(names.short(msg.topic), msg.partition, msg.offset)
        card = baton.part_cards.get(msg.partition)  # None until recovered: the rebuild counts it then
        if entry.facts is None and entry.state is not None and card is not None:
            entry.facts = card.facts(entry.state)  # the facts to subtract, before step() may advance the state in place
        result = step(history, ev, settings.sla_seconds, current=entry.state)
        if result.duplicate:
            metrics.events_duplicate += 1
            return
        if result.redelivered:
            metrics.events_redelivered += 1
        else:
            metrics.events_valid += 1
        for draft in result.drafts:
            notify(batch, key, draft)
        if result.changed:
            stored = history.to_bytes()
            if len(stored) > MAX_STATE_BYTES:
                forget(batch, key)  # its history and state hold the event that is not stored
                reject(batch, msg, f"the account's history would grow to {len(stored):,} bytes, past the "
                                  f"{MAX_STATE_BYTES:,} a Kafka record can carry: this event is not counted. "
                                  "Check the producer for a loop or oversized fields")
                return
            entry.state = result.state
            store(batch, key, entry, stored, event)
            count_in_scorecard(card, entry, result.state)
            for due in open_checks(result.state, history, settings.sla_seconds, settings.payment_missing_days):
                baton.due_queue.push(due)
        baton.pending_funnel[key] = result.state

    def count_in_scorecard(card, entry: CachedAccount, state) -> None:
        if card is None:  # not yet recovered: the rebuild after recovery counts it
            entry.facts = None
            return
        # entry.facts: taken before the step (None: a new account); the card notes what changed,
        # for the next flush
        entry.facts = card.recount(entry.facts, state)

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
            card.apply_spend(ev)

    async def handle_due(batch: Batch, event) -> None:
        msg = event.message
        try:
            due = orjson.loads(msg.value)
            account_id, check, ref = due["account_id"], due["check"], due["ref"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.error("ignoring malformed timer record at %s[%d]@%d", msg.topic, msg.partition, msg.offset)
            return
        key = account_id.encode()
        entry = load(batch, key, account_id)
        history = entry.history
        check_id = f"{check}:{ref}"
        src = source_of(names.short(msg.topic), msg.partition, msg.offset)
        fired_by = history.fired.get(check_id)
        if fired_by is not None and not same_record(fired_by, src):
            return  # fired before: a check fires once
        state = entry.state if entry.state is not None else fold(history)
        if check == LEAD_SLA:
            draft = lead_sla_breach(state, ref, settings.sla_seconds, int(time.time() * 1000))
        elif check == PAYMENT_MISSING:
            draft = payment_missing(state, ref, settings.payment_missing_days)
        else:
            log.error("unknown timer check %r", check)
            return
        if draft is None:
            return
        notify(batch, key, draft)  # the same due record after a crash re-sends the same id
        if fired_by is None:
            history.fired[check_id] = src
            store(batch, key, entry, history.to_bytes(), event)

    async def handle_batch(events, fetched: float | None = None) -> asyncio.Future | None:
        """``events``: objects with Faust's ``.message``; ``fetched``: when the batch's first record
        reached the worker (epoch seconds), else read off Faust's monitor stamp. Returns the future
        of Kafka's acknowledgement of the batch's output (``BatonApp.send_output``)."""
        oldest = min((e.message for e in events if e.message.timestamp), key=attrgetter("timestamp"), default=None)
        produced_at = oldest.timestamp if oldest is not None else None
        if fetched is None and oldest is not None:
            fetched = fetched_at(oldest)
        if fetched is not None:  # unstamped (no Faust monitor): not "now", which is picked_up
            baton.intake_delay.observe("fetched", produced_at, at=fetched)
        baton.intake_delay.observe("picked_up", produced_at)
        batch = Batch()
        for event in events:
            msg = event.message
            in_event(event)
            try:
                if msg.topic == baton.timers_topic_name:
                    await handle_due(batch, event)
                else:
                    await handle_record(batch, event)
            except Exception as exc:  # noqa: BLE001 - one bad record must never stop the stream
                log.exception("failed to process %s[%d]@%d", msg.topic, msg.partition, msg.offset)
                if msg.key is not None:
                    forget(batch, msg.key)  # memory may hold a change that is not stored
                reject(batch, msg, f"Baton failed to process this record ({type(exc).__name__}: {exc}); "
                                   "it is kept here so it can be replayed once the cause is fixed")
        write_batch(batch)
        if batch.notes and baton.hand_over is not None:
            # Before the output is sent, so that no copy of it can be read back first. Safe: the
            # input is acknowledged only once all of the output is in Kafka (baton.notify.handover).
            baton.hand_over.offer(batch.notes)
        sent = await baton.send_output(batch.out)
        baton.intake_delay.observe("handled", produced_at)
        return sent

    async def stop_unacknowledged(batch_size: int, exc: Exception) -> None:
        # Per-record errors are dead-lettered inside the batch; this is its end failing (the
        # table writes or the output). Going on would acknowledge the batch: stop the worker
        # instead, so it is read again after the restart.
        log.critical("could not finish a batch of %d records (%s: %s): stopping the worker without "
                     "acknowledging them", batch_size, type(exc).__name__, exc)
        await app.crash(exc)
        await asyncio.Event().wait()  # cancelled when the app stops; never acknowledge

    feed = None
    if settings.intake_feed:
        feed = IntakeFeed(app, set(baton.inputs.topics), window=settings.intake_batch_seconds)
    if feed is not None and feed.install():
        baton.intake_feed = feed
        app.topics.add(baton.inputs)  # subscribed as an agent's topic would be

        @app.task
        async def intake() -> None:
            while not app.should_stop:
                records, fetched = await feed.take(BATCH_MAX_RECORDS)
                if not records:
                    continue  # all fetched before a rebalance: they are read again
                try:
                    sent = await handle_batch(records, fetched)
                except Exception as exc:  # noqa: BLE001 - a batch whose output may not be in Kafka
                    await stop_unacknowledged(len(records), exc)
                feed.done_when_sent(records, sent)  # the next batch does not wait for Kafka's answer
    else:
        @app.agent(baton.inputs, name="intake")
        async def intake_agent(stream):
            async for events in stream.take_events(BATCH_MAX_RECORDS, within=settings.intake_batch_seconds or 0.001):
                try:
                    sent = await handle_batch(events)
                    if sent is None:  # shutting down, output not queued: never acknowledge
                        await asyncio.Event().wait()
                    await sent  # take_events acknowledges the batch when this returns
                except Exception as exc:  # noqa: BLE001 - a batch whose output may not be in Kafka
                    await stop_unacknowledged(len(events), exc)

    @app.on_partitions_revoked.connect
    async def _forget_cached_accounts(app_, revoked, **kwargs) -> None:  # noqa: ARG001
        # Partitions move: what the table holds changes under the cache.
        cache.clear()
