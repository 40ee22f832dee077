"""The funnel fold: stage, owner, source and first touch follow occurred_at, not arrival order."""

from __future__ import annotations

import itertools

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from baton.funnel.fold import fold
from baton.funnel.history import AccountHistory


def ev(id_, type_, t, **data):
    return {"id": id_, "type": type_, "t": t, "data": data}


LIFECYCLE = [
    ev("a", "lead.created", 10, lead_id="l1", source="marketing", temperature="hot", campaign_id="c-1"),
    ev("b", "lead.assigned", 20, lead_id="l1", owner_id="r-1"),
    ev("c", "lead.contacted", 30, lead_id="l1", owner_id="r-1"),
    ev("d", "lead.qualified", 40, lead_id="l1"),
    ev("e", "deal.created", 50, deal_id="d1", amount=900, currency="USD", owner_id="r-2", lead_id="l1",
       campaign_id="c-2"),
    ev("f", "deal.won", 60, deal_id="d1", amount=1000, currency="USD"),
    ev("g", "payment.succeeded", 70, payment_id="p1", amount=1000, currency="USD", deal_id="d1"),
]


def stage_after(n: int) -> str:
    return fold(AccountHistory("acct", LIFECYCLE[:n])).stage


def test_stages_progress_through_the_funnel():
    assert [stage_after(n) for n in range(1, 8)] == ["lead", "lead", "mql", "sql", "opportunity", "won", "customer"]


def test_any_arrival_order_gives_the_same_state():
    expected = fold(AccountHistory("acct", LIFECYCLE)).as_json()
    for order in itertools.islice(itertools.permutations(LIFECYCLE), 0, 5040, 97):
        history = AccountHistory("acct")
        for e in order:
            history.add(e)
        assert fold(history).as_json() == expected


def test_owner_source_first_touch_and_first_contact():
    state = fold(AccountHistory("acct", LIFECYCLE))
    assert state.owner_id == "r-2"  # the deal's owner came last
    assert state.source == "marketing"
    assert state.first_touch_campaign_id == "c-1"  # earliest event carrying a campaign
    assert state.first_contact_at == 30
    assert state.deals["d1"].won_amount == 1000


def test_cancellation_after_last_payment_is_churn_and_a_new_payment_wins_back():
    churned = LIFECYCLE + [ev("h", "subscription.cancelled", 80)]
    assert fold(AccountHistory("acct", churned)).stage == "churned"
    back = churned + [ev("i", "payment.succeeded", 90, payment_id="p2", amount=5, currency="USD")]
    assert fold(AccountHistory("acct", back)).stage == "customer"


def test_lost_when_every_lead_disqualified_and_deal_lost():
    events = [ev("a", "lead.created", 1, lead_id="l1", source="sales", temperature="cold"),
              ev("b", "lead.disqualified", 2, lead_id="l1", reason="no budget")]
    assert fold(AccountHistory("acct", events)).stage == "lost"


def test_history_round_trips_through_bytes_with_fired_checks():
    h = AccountHistory("acct", LIFECYCLE)
    h.fired["lead-sla:l1"] = ["timers", 0, 5]
    back = AccountHistory.from_bytes(h.to_bytes())
    assert back.events == h.events and back.fired == h.fired and "a" in back


def _serialised(h: AccountHistory) -> bytes:
    doc = {"account_id": h.account_id, "events": h.events}
    if h.fired:
        doc["fired"] = h.fired
    return orjson.dumps(doc)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.just("add"), st.integers(0, 30), st.integers(0, 50), st.text(max_size=5)),
    st.tuples(st.just("fire"), st.integers(0, 5)),
    st.tuples(st.just("bytes"),),
), max_size=40))
def test_to_bytes_extended_by_appends_equals_a_fresh_serialisation(ops):
    # to_bytes() splices appended events into its previous bytes; whatever the order of adds
    # (in order, out of order, duplicates), fired checks and calls, it must equal orjson's.
    h = AccountHistory("acct-ü")
    for op in ops:
        if op[0] == "add":
            _, n, t, text = op
            h.add({"id": f"e{n}", "type": "lead.created", "t": t, "data": {"lead_id": text}})
        elif op[0] == "fire":
            h.fired.setdefault(f"lead-sla:l{op[1]}", ["timers", 0, op[1]])
        else:
            assert h.to_bytes() == _serialised(h)
    assert h.to_bytes() == _serialised(h)
    assert AccountHistory.from_bytes(h.to_bytes()).events == h.events
