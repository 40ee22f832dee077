"""After the tables recover (start-up, rebalance): rebuild what lives only in memory.

Three things are derived from the account and spend tables rather than
stored: the per-partition scorecard totals, the due timer checks, and the
set of accounts whose funnel record must be (re)published. Each account is
folded once here and feeds all three. Only partitions this worker actively
owns count, so two workers never publish the same partition's totals.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import orjson

from baton.funnel.fold import fold
from baton.funnel.history import AccountHistory
from baton.scorecard import Scorecard
from baton.streams.partitioning import expected_partition
from baton.streams.timers import DueQueue, open_checks

if TYPE_CHECKING:
    from baton.streams.app import BatonApp

log = logging.getLogger(__name__)
YIELD_EVERY = 2_000  # accounts folded between yields to the event loop


def spend_events(raw: bytes) -> list[dict]:
    """The ``spend.recorded`` events one ``spend`` table entry holds.

    One event per entry, keyed by its id (since commit 75cb70e). Before that, entries were
    keyed by campaign and held a history like an account's (``{"account_id", "events"}``):
    still read, so a worker upgraded over an old changelog counts that spend too.
    """
    doc = orjson.loads(raw)
    if "events" in doc:
        return [ev for ev in doc["events"] if ev.get("type") == "spend.recorded"]
    if "id" not in doc or "data" not in doc:
        raise ValueError("neither a spend event nor a history of them")
    return [doc]


def partition_of(history_events: list[dict], key: bytes, partitions: int) -> int:
    """The input partition an account's events arrive in (its latest event's), else murmur2's."""
    for ev in reversed(history_events):
        src = ev.get("src")
        if src:
            return src[1]
    return expected_partition(key, partitions)


def register(baton: "BatonApp") -> None:
    settings = baton.settings

    def active_partitions() -> set[int]:
        inputs = set(baton.names.inputs)
        return {tp.partition for tp in baton.faust.assignor.assigned_actives() if tp.topic in inputs}

    async def rebuild() -> None:
        started = time.perf_counter()
        baton.account_cache.clear()  # its scorecard facts were counted in the cards replaced here
        active = active_partitions()
        cards = {p: Scorecard(settings.sla_windows) for p in active}
        dues = DueQueue()
        accounts = 0
        for key, raw in baton.accounts.items():
            try:
                history = AccountHistory.from_bytes(raw)
                p = partition_of(history.events, key, baton.partitions)
                if p not in active:
                    continue
                state = fold(history)
            except Exception as exc:  # noqa: BLE001 - one unreadable entry must not cost every other account
                unreadable("accounts", key, exc)
                continue
            cards[p].apply_account(None, state)
            for due in open_checks(state, history, settings.sla_seconds, settings.payment_missing_days):
                dues.push(due)
            baton.pending_funnel.setdefault(key, state)
            accounts += 1
            if accounts % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the consumer heartbeat: a long rebuild must not look dead
        for key, raw in baton.spend.items():
            try:
                events = spend_events(raw)
            except Exception as exc:  # noqa: BLE001 - as above
                unreadable("spend", key, exc)
                continue
            for ev in events:
                p = ev["src"][1] if ev.get("src") else expected_partition(key, baton.partitions)
                if p in active:
                    cards[p].apply_spend(ev)
        baton.part_cards = cards  # new cards: each of their scopes is published whole next flush
        baton.due_queue = dues
        log.info("recovered %d accounts in partitions %s in %.2fs: %d timer checks pending",
                 accounts, sorted(active), time.perf_counter() - started, len(dues))

    def unreadable(table: str, key: bytes, exc: Exception) -> None:
        baton.metrics.unreadable_state_entries += 1
        log.error("%s table entry %r cannot be read (%s: %s): it is left out of the scorecard and timer checks. "
                  "It was probably written by an incompatible Baton version; `baton replay` recomputes the "
                  "scorecard from the input topics", table, key, type(exc).__name__, exc)

    async def after_recovery() -> None:
        # One callback, in this order: Faust keeps a table's recovery callbacks in a set (no
        # order) and only logs what they raise, as "Task exception was never retrieved".
        try:
            await asyncio.wait_for(rewind_uncommitted(), baton.faust.conf.broker_request_timeout)
        except Exception as exc:  # noqa: BLE001 - a workaround failing must not cost the rebuild
            log.warning("could not check partitions for missing commits after recovery (%s: %s); a partition "
                        "that has none may skip its first records until the next rebalance",
                        type(exc).__name__, exc)
        try:
            await rebuild()
        except Exception as exc:  # noqa: BLE001 - else the worker would run on with totals that count nothing
            log.critical("could not rebuild the scorecard and timer checks after recovery (%s: %s): stopping the "
                         "worker", type(exc).__name__, exc)
            await baton.faust.crash(exc)

    async def rewind_uncommitted() -> None:
        # Workaround (docs/architecture.md, "Partitions without a commit after a rebalance"):
        # records prefetched while a rebalance runs are dropped by Faust, and its seek afterwards
        # moves back only the partitions that have a committed offset. A kept partition without
        # one was seen never to deliver its first records. Start such partitions from their
        # beginning (what "earliest" means).
        consumer = baton.faust.consumer
        own_topics = set(baton.names.inputs) | {baton.timers_topic_name, baton.notifications.get_topic_name(),
                                                baton.parts_topic.get_topic_name()}
        assigned = [tp for tp in consumer.assignment() if tp.topic in own_topics]
        if not assigned:
            return
        # The broker's commits, not Faust's own record of them: in a fresh process that is
        # still empty here (Faust fills it in its seek right after this), so every partition
        # was sought to 0 and then back, racing the fetch (the likely cause of a timer breach
        # told twice after a restart in CI). This is the same seek Faust makes next, run on
        # the consumer's thread as Faust runs it.
        committed = await consumer.seek_to_committed()
        uncommitted = {tp: 0 for tp in assigned if not committed.get(tp)}
        if uncommitted:
            # seek_wait, not seek: Faust's seek calls aiokafka from this thread while the consumer
            # thread may be fetching, which crashed a restarting worker (KeyError in aiokafka's fetcher).
            await consumer.seek_wait(uncommitted)

    baton.accounts.on_recover(after_recovery)
