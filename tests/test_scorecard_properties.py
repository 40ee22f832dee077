"""Properties: one event history gives one scorecard, however it arrives.

A generated history (valid lifecycles of a few accounts, plus spend) is
shuffled, partly duplicated, split over the contract's topics and partitions
and interleaved at random. Whatever happens, the offline ``replay`` and the
live ``Scorecard`` (one per partition, summed) give the same records.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baton.funnel.fold import fold
from baton.funnel.history import AccountHistory
from baton.scorecard import Partial, Scorecard, account_contribution, combine, finalize_all, replay, spend_contribution
from baton.scorecard.entity_facts import counted_of
from baton.streams.events import EVENT_ADAPTER
from baton.streams.partitioning import expected_partition

MINUTE_MS = 60_000
DAY_MS = 86_400_000
# 20 March 2026: histories run over the March/April month and Q1/Q2 quarter boundaries.
START_MS = int(datetime(2026, 3, 20, tzinfo=timezone.utc).timestamp() * 1000)

PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

owners = st.sampled_from(["r-1", "r-2", "r-3"])
campaigns = st.sampled_from([None, "c-1", "c-2"])
currencies = st.sampled_from(["USD", "EUR"])
amounts = st.integers(0, 2_000_000)


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}  # compact() drops absent optionals


@st.composite
def histories(draw) -> list[dict[str, Any]]:
    """Compact events of 1-4 accounts (signup -> leads -> deals -> payments -> churn) and some spend."""
    events: list[dict[str, Any]] = []

    def emit(type_: str, t: int, account: str | None, **data: Any) -> None:
        ev = {"id": f"e{len(events)}", "type": type_, "t": t, "data": _clean(data)}
        if account is not None:
            ev["account_id"] = account
        events.append(ev)

    for a in range(draw(st.integers(1, 4))):
        account = f"acct-{a}"
        clock = [START_MS + draw(st.integers(-10 * 24 * 60, 20 * 24 * 60)) * MINUTE_MS]

        def later() -> int:
            # Mostly forward, sometimes a little back (clock skew between producers), sometimes a tie.
            clock[0] += draw(st.integers(-6 * 60, 8 * 24 * 60)) * MINUTE_MS
            return clock[0]

        if draw(st.booleans()):
            emit("signup.created", later(), account, company=f"Co {a}", email=f"x{a}@co.test", campaign_id=draw(campaigns))
        lead_ids = []
        for n in range(draw(st.integers(0, 2))):
            lead_id = f"{account}-L{n}"
            lead_ids.append(lead_id)
            emit("lead.created", later(), account, lead_id=lead_id,
                 source=draw(st.sampled_from(["marketing", "sales", "channel"])),
                 temperature=draw(st.sampled_from(["hot", "warm", "cold"])),
                 campaign_id=draw(campaigns), owner_id=draw(st.none() | owners))
            if draw(st.booleans()):
                emit("lead.assigned", later(), account, lead_id=lead_id, owner_id=draw(owners))
            if draw(st.booleans()):
                emit("lead.contacted", later(), account, lead_id=lead_id, owner_id=draw(owners))
            step = draw(st.sampled_from([None, "lead.qualified", "lead.disqualified"]))
            if step == "lead.qualified":
                emit(step, later(), account, lead_id=lead_id)
            elif step == "lead.disqualified":
                emit(step, later(), account, lead_id=lead_id, reason="no budget")
        deal_ids = []
        for n in range(draw(st.integers(0, 2))):
            deal_id = f"{account}-D{n}"
            deal_ids.append(deal_id)
            currency = draw(currencies)
            emit("deal.created", later(), account, deal_id=deal_id, amount=draw(amounts), currency=currency,
                 owner_id=draw(owners), lead_id=draw(st.sampled_from([None, *lead_ids])),
                 source=draw(st.sampled_from([None, "marketing", "sales", "channel"])), campaign_id=draw(campaigns))
            if draw(st.booleans()):
                emit("deal.stage_changed", later(), account, deal_id=deal_id, stage="proposal")
            for outcome in draw(st.sampled_from([[], ["won"], ["lost"], ["lost", "won"], ["won", "lost"]])):
                if outcome == "won":
                    emit("deal.won", later(), account, deal_id=deal_id, amount=draw(amounts), currency=currency)
                else:
                    emit("deal.lost", later(), account, deal_id=deal_id, reason="price")
        late_deal = f"{account}-D9"  # a deal payments may name before it is created (below)
        payment_ids = []
        for n in range(draw(st.integers(0, 3))):
            payment_id, currency, amount = f"{account}-P{n}", draw(currencies), draw(amounts)
            payment_ids.append(payment_id)
            if draw(st.integers(0, 4)) == 0:
                emit("payment.failed", later(), account, payment_id=payment_id, amount=amount, currency=currency,
                     reason="card_declined")
                continue
            emit("payment.succeeded", later(), account, payment_id=payment_id, amount=amount, currency=currency,
                 deal_id=draw(st.sampled_from([None, *deal_ids, late_deal])))
            if draw(st.integers(0, 3)) == 0:
                emit("payment.refunded", later(), account, payment_id=payment_id,
                     amount=draw(st.integers(0, amount)), currency=currency)
        # After the payments, what they are attributed through may still change: the deal they
        # name is created, a deal gets a new owner, the account a new owner, a refunded
        # payment's id is charged again under a deal.
        for late in draw(st.lists(st.sampled_from(["deal", "owner", "assigned", "charge"]), max_size=3)):
            if late == "deal" or (late == "owner" and deal_ids):
                deal_id = late_deal if late == "deal" else draw(st.sampled_from(deal_ids))
                emit("deal.created", later(), account, deal_id=deal_id, amount=draw(amounts),
                     currency=draw(currencies), owner_id=draw(owners),
                     source=draw(st.sampled_from([None, "marketing", "channel"])))
            elif late == "assigned" and lead_ids:
                emit("lead.assigned", later(), account, lead_id=draw(st.sampled_from(lead_ids)), owner_id=draw(owners))
            elif late == "charge" and payment_ids:
                emit("payment.succeeded", later(), account, payment_id=draw(st.sampled_from(payment_ids)),
                     amount=draw(amounts), currency=draw(currencies),
                     deal_id=draw(st.sampled_from([*deal_ids, late_deal])))
        for _ in range(draw(st.integers(0, 2))):
            emit("subscription.cancelled", later(), account)

    for n in range(draw(st.integers(0, 3))):
        emit("spend.recorded", START_MS + draw(st.integers(-20, 30)) * DAY_MS, None, spend_id=f"sp{n}",
             amount=draw(amounts), currency=draw(currencies), team=draw(st.sampled_from(["marketing", "sales"])),
             campaign_id=draw(campaigns), period=draw(st.sampled_from([None, "2026-03", "2026-04"])))
    return events


TOPIC_OF = {"signup": "signups", "lead": "leads", "deal": "deals", "payment": "payments",
            "subscription": "payments", "spend": "spend"}


def kafka_key(ev: dict[str, Any]) -> str:
    return ev.get("account_id") or ev["data"].get("campaign_id") or ev["data"]["team"]  # contract keys


def arrival(events: list[dict[str, Any]], rng: random.Random, partitions: int) -> list[tuple[int, dict[str, Any]]]:
    """Shuffle, duplicate some, split by topic and murmur2 partition, interleave: (partition, event) in arrival order."""
    produced = events + [dict(ev) for ev in rng.sample(events, k=rng.randint(0, len(events)))]
    rng.shuffle(produced)
    queues: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for ev in produced:
        partition = expected_partition(kafka_key(ev).encode(), partitions)
        queues[(TOPIC_OF[ev["type"].split(".")[0]], partition)].append(ev)
    order = []
    while queues:  # a consumer reads each partition in order, the partitions in any interleaving
        queue = rng.choice(sorted(queues))
        order.append((queue[1], queues[queue].pop(0)))
        if not queues[queue]:
            del queues[queue]
    return order


class LiveWorker:
    """What the stream worker does for one partition: histories, coalesced flushes, a Scorecard."""

    def __init__(self, via_facts: bool = False) -> None:
        self.scorecard = Scorecard()
        self.histories: dict[str, AccountHistory] = {}
        self.applied: dict[str, Any] = {}  # account -> the state (or its facts) last applied to the scorecard
        self.pending: set[str] = set()
        self.via_facts = via_facts  # the intake's way: keep the facts counted, recount them per state

    def receive(self, ev: dict[str, Any]) -> None:
        if ev["type"] == "spend.recorded":
            self.scorecard.apply_spend(ev)
            return
        account = ev["account_id"]
        history = self.histories.setdefault(account, AccountHistory(account))
        if history.add(ev):
            self.pending.add(account)

    def flush(self) -> None:
        for account in sorted(self.pending):
            new_state = fold(self.histories[account])
            if self.via_facts:
                self.applied[account] = self.scorecard.recount(self.applied.get(account), new_state)
            else:
                self.scorecard.apply_account(self.applied.get(account), new_state)
                self.applied[account] = new_state
        self.pending.clear()


@PROPERTY
@given(events=histories(), rng=st.randoms(use_true_random=False), partitions=st.integers(1, 4))
def test_replay_ignores_order_duplicates_and_partitioning(events, rng, partitions):
    expected = replay(events)
    assert replay(ev for _, ev in arrival(events, rng, partitions)) == expected


@PROPERTY
@given(events=histories(), rng=st.randoms(use_true_random=False), partitions=st.integers(1, 4),
       flush_every=st.sampled_from([1.0, 0.5, 0.1]), via_facts=st.booleans())
def test_live_scorecards_per_partition_sum_to_the_replay(events, rng, partitions, flush_every, via_facts):
    workers = [LiveWorker(via_facts) for _ in range(partitions)]
    for partition, ev in arrival(events, rng, partitions):
        workers[partition].receive(ev)
        if rng.random() < flush_every:  # 1.0: state applied after every event; less: coalesced
            workers[partition].flush()
    for worker in workers:
        worker.flush()
    if partitions == 1:
        assert workers[0].scorecard.records() == replay(events)
    assert finalize_all(combine(w.scorecard.partials for w in workers)) == replay(events)
    # What the combiner sums: each partition's parts as published (to_wire), read back.
    wired = [{scope: Partial.from_json(orjson.loads(orjson.dumps(part.to_wire())))
              for scope, part in w.scorecard.partials.items()} for w in workers]
    assert finalize_all(combine(wired)) == replay(events)


ADDITIVE = ("leads", "opportunities", "deals_won", "deals_lost", "new_customers", "leads_responded")
ADDITIVE_MONEY = ("pipeline", "bookings", "cash_collected", "refunds")


def _money_sum(maps: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for money in maps:
        for cur, v in money.items():
            total[cur] += v
    return {cur: v for cur, v in total.items() if v}


@PROPERTY
@given(events=histories())
def test_months_and_quarters_each_add_up_to_all(events):
    records = replay(events)
    if "all" not in records:
        return
    every = records["all"]
    for is_period in (lambda s: len(s) == 7 and s[4] == "-" and s[5] != "Q", lambda s: len(s) == 7 and "-Q" in s):
        periods = [r for s, r in records.items() if is_period(s)]
        for figure in ADDITIVE:
            assert sum(r[figure] for r in periods) == every[figure], figure
        for figure in ADDITIVE_MONEY:
            assert _money_sum([r[figure] for r in periods]) == every[figure], figure
    # Every lead and deal has exactly one source scope; campaign scopes book what campaign_revenue credits.
    sources = [r for s, r in records.items() if s.startswith("source:")]
    assert sum(r["leads"] for r in sources) == every["leads"]
    assert sum(r["opportunities"] for r in sources) == every["opportunities"]
    for campaign, money in every["campaign_revenue"].items():
        assert records[f"campaign:{campaign}"]["bookings"] == money


def _partials(events: list[dict[str, Any]]) -> list[Partial]:
    by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    parts = []
    for ev in events:
        if ev["type"] == "spend.recorded":
            parts.extend(spend_contribution(ev).values())
        else:
            by_account[ev["account_id"]].append(ev)
    for account, evs in by_account.items():
        parts.extend(account_contribution(fold(AccountHistory(account, evs))).values())
    return parts


@PROPERTY
@given(events=histories(), rng=st.randoms(use_true_random=False))
def test_partials_subtract_exactly_and_survive_json(events, rng):
    parts = _partials(events) or [Partial()]
    a, b = rng.choice(parts), rng.choice(parts)
    assert (a + b) - b == a
    assert a + b == b + a
    assert (a - a).is_empty()
    for p in (a, a + b, a - b):
        assert Partial.from_json(orjson.loads(orjson.dumps(p.to_json()))) == p
    for p in (a, a + b):  # totals (a difference has no record)
        # The wire form (what a part publishes) keeps only the maximum of "latest": same record.
        wire = Partial.from_json(orjson.loads(orjson.dumps(p.to_wire())))
        assert wire.finalize("all") == p.finalize("all")
    # Parts are summed on the wire: the sum of wire forms gives the record of the sum.
    wired = Partial.from_json(a.to_wire()) + Partial.from_json(b.to_wire())
    assert wired.finalize("all") == (a + b).finalize("all")
    # Records are plain JSON: what the worker publishes reads back unchanged.
    record = (a + b).finalize("all")
    assert orjson.loads(orjson.dumps(record)) == record


@settings(max_examples=20, deadline=None)
@given(events=histories())
def test_generated_events_are_valid_contract_events(events):
    # The strategy must not test the scorecard with events the intake would reject.
    for ev in events:
        doc = {"id": ev["id"], "type": ev["type"], "data": ev["data"],
               "occurred_at": datetime.fromtimestamp(ev["t"] / 1000, tz=timezone.utc).isoformat()}
        if "account_id" in ev:
            doc["account_id"] = ev["account_id"]
        EVENT_ADAPTER.validate_json(orjson.dumps(doc))


SLA = {"hot": 300, "warm": 3600, "cold": 86400}.__getitem__


@PROPERTY
@given(events=histories(), rng=st.randoms(use_true_random=False), in_order=st.booleans())
def test_stepping_the_carried_state_equals_folding_the_history(events, rng, in_order):
    # The intake's way (baton.agents.intake): the cached state goes into step(), which advances it
    # in place when the event sorts last and re-folds otherwise; the scorecard's old facts are
    # taken before the step. Whatever the arrival order, state == fold(history) after every
    # event, and the scorecard equals the replay.
    from baton.streams.processor import step

    if in_order:  # the usual traffic: each account's events arrive in occurred_at order
        arrived = sorted(events, key=lambda ev: (ev["t"], ev["id"]))
    else:
        arrived = [ev for _, ev in arrival(events, rng, 1)]
    card = Scorecard()
    histories_by_account: dict[str, AccountHistory] = {}
    states: dict[str, Any] = {}
    facts: dict[str, Any] = {}
    for ev in arrived:
        ev = dict(ev)  # step() keeps the event in the history
        if ev["type"] == "spend.recorded":
            card.apply_spend(ev)
            continue
        account = ev["account_id"]
        history = histories_by_account.setdefault(account, AccountHistory(account))
        current = states.get(account)
        if account not in facts and current is not None:
            facts[account] = card.facts(current)
        result = step(history, ev, SLA, current=current)
        assert result.state == fold(history)
        if result.changed:
            old = facts.get(account)
            if old is None and result.previous is not None:
                old = card.facts(result.previous)
            facts[account] = card.recount(old, result.state)
            # What the recount kept equals the facts counted afresh: the pieces' counts, and the
            # account-wide views it updated instead of rebuilding.
            fresh = card.facts(result.state)
            assert (facts[account].once, facts[account].latest) == (fresh.once, fresh.latest)
            assert _counted(facts[account]) == _counted(fresh)
        states[account] = result.state
    assert card.records() == replay(events)


def _counted(facts) -> dict:
    """An account's counted facts summed over its pieces (zeros dropped)."""
    total: dict = {}
    for piece in facts.pieces():
        for k, amount in counted_of(piece).items():
            total[k] = total.get(k, 0) + amount
    return {k: v for k, v in total.items() if v}


@PROPERTY
@given(events=histories(), rng=st.randoms(use_true_random=False), partitions=st.integers(1, 4),
       whole_share=st.sampled_from([0.0, 0.2, 1.0]), repeat_share=st.sampled_from([0.0, 0.3]))
def test_patches_and_whole_parts_combine_to_the_replay(events, rng, partitions, whole_share, repeat_share):
    """What the live worker publishes (whole parts, then patches of what changed) and the
    combiner's PartStore sums give the replay's records, with messages redelivered at random."""
    from baton.scorecard.part_store import PartStore, part_message

    workers = [LiveWorker(via_facts=True) for _ in range(partitions)]
    sent_whole: list[set[str]] = [set() for _ in range(partitions)]
    table: dict[tuple[str, int], bytes] = {}  # the combiner's table: part as published
    store = PartStore(partitions, lambda scope, p: orjson.loads(table[(scope, p)]) if (scope, p) in table else None)

    def publish(p: int) -> None:
        card = workers[p].scorecard
        for scope, keys in card.take_changes().items():
            part = card.partials.get(scope)
            whole = part is not None and (scope not in sent_whole[p] or rng.random() < whole_share)
            if part is None:
                sent_whole[p].discard(scope)
            elif whole:
                sent_whole[p].add(scope)
            wire = orjson.dumps(part_message(scope, p, part, None if whole else keys))
            for _ in range(2 if rng.random() < repeat_share else 1):  # a redelivery applies it again
                scope_, p_, stored = store.apply(orjson.loads(wire))
                if stored:
                    table[(scope_, p_)] = orjson.dumps(stored)
                else:
                    table.pop((scope_, p_), None)
            store.record(scope)  # as each flush does: what it keeps between records must follow
            if rng.random() < 0.1:
                store.clear()  # a rebalance: read back from the table

    for partition, ev in arrival(events, rng, partitions):
        workers[partition].receive(ev)
        if rng.random() < 0.5:
            workers[partition].flush()
            if rng.random() < 0.5:
                publish(partition)
    for p, worker in enumerate(workers):
        worker.flush()
        publish(p)
    expected = replay(events)
    scopes = {scope for scope, _ in table} | set(expected)
    assert {scope: store.record(scope) for scope in scopes} == {scope: expected.get(scope) for scope in scopes}
    # The table holds each partition's part exactly as a whole part would publish it.
    for (scope, p), raw in table.items():
        assert orjson.loads(raw) == orjson.loads(orjson.dumps(workers[p].scorecard.partials[scope].to_wire()))
