"""The live recount (``Scorecard.recount``, entity_facts.py) in the cases where a payment counted
earlier must be counted again: what it is attributed through changed after it was counted.

Each history is fed in order, the intake's way (``step`` on the carried state, then ``recount``
of the facts kept), and the live records must equal the replay's after every event. The
property tests generate such histories too; these pin the rarer ones down.
"""

from __future__ import annotations

from typing import Any

import pytest

from baton.funnel.history import AccountHistory
from baton.scorecard import Scorecard, replay
from baton.streams.processor import step

T0 = 1_774_000_000_000  # March 2026
SLA = {"hot": 300, "warm": 3600, "cold": 86400}.__getitem__


def _events(*specs: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": f"e{i}", "type": type_, "t": T0 + i * 60_000, "account_id": "a-1", "data": data}
            for i, (type_, data) in enumerate(specs)]


def _deal(deal_id: str, owner: str, source: str) -> tuple[str, dict[str, Any]]:
    return ("deal.created", {"deal_id": deal_id, "amount": 1000, "currency": "USD", "owner_id": owner, "source": source})


def _paid(payment_id: str, deal_id: str | None = None, amount: int = 500) -> tuple[str, dict[str, Any]]:
    data = {"payment_id": payment_id, "amount": amount, "currency": "USD"}
    return ("payment.succeeded", data | ({"deal_id": deal_id} if deal_id else {}))


def _live_equals_replay_after_every_event(events: list[dict[str, Any]]) -> None:
    card, history, state, facts = Scorecard(), AccountHistory("a-1"), None, None
    for n, ev in enumerate(events, 1):
        result = step(history, dict(ev), SLA, current=state)
        if result.changed:
            facts = card.recount(facts, result.state)
        state = result.state
        assert card.records() == replay(events[:n]), f"after {ev['type']} ({n} of {len(events)})"


CASES = {
    "the deal a payment names is created after it": _events(
        ("lead.created", {"lead_id": "l-1", "source": "marketing", "temperature": "hot", "owner_id": "r-1"}),
        _paid("p-1", "d-9"), _paid("p-2", "d-9"),
        _deal("d-9", "r-2", "channel")),
    "a deal gets a new owner after its payments": _events(
        _deal("d-1", "r-1", "marketing"), _paid("p-1", "d-1"), _paid("p-2", "d-1"),
        _deal("d-1", "r-3", "marketing")),
    "a deal's source changes after its payments, nothing of the account's does": _events(
        ("lead.created", {"lead_id": "l-1", "source": "marketing", "temperature": "hot", "owner_id": "r-1"}),
        _deal("d-1", "r-1", "marketing"), _paid("p-1", "d-1"),
        _deal("d-1", "r-1", "channel")),
    "the account gets a new owner after a payment without a deal": _events(
        ("lead.created", {"lead_id": "l-1", "source": "sales", "temperature": "warm", "owner_id": "r-1"}),
        _paid("p-1"), _paid("p-2"),
        ("lead.assigned", {"lead_id": "l-1", "owner_id": "r-2"})),
    "a refunded payment's id is charged again under another deal": _events(
        _deal("d-1", "r-1", "marketing"), _deal("d-2", "r-2", "channel"),
        _paid("p-1", "d-1"), ("payment.refunded", {"payment_id": "p-1", "amount": 200, "currency": "USD"}),
        _paid("p-1", "d-2", amount=700)),
    "a failed payment, then the first that succeeded": _events(
        ("payment.failed", {"payment_id": "p-1", "amount": 500, "currency": "USD", "reason": "card_declined"}),
        _paid("p-1"), _paid("p-2")),
    "the first-touch campaign arrives after the payments": _events(
        _paid("p-1"),
        ("lead.created", {"lead_id": "l-1", "source": "marketing", "temperature": "hot", "campaign_id": "c-1"}),
        _paid("p-2")),
}


@pytest.mark.parametrize("events", CASES.values(), ids=CASES.keys())
def test_recount_equals_the_replay_after_every_event(events):
    _live_equals_replay_after_every_event(events)


def test_an_event_recounts_only_what_it_changed():
    # A payment after 40 others: its own piece is new, the 40 earlier ones are the same objects.
    events = _events(_deal("d-1", "r-1", "marketing"), *(_paid(f"p-{n}", "d-1") for n in range(41)))
    card, history, state, facts = Scorecard(), AccountHistory("a-1"), None, None
    for ev in events[:-1]:
        result = step(history, dict(ev), SLA, current=state)
        facts, state = card.recount(facts, result.state), result.state
    kept = facts.payments
    result = step(history, dict(events[-1]), SLA, current=state)
    facts = card.recount(facts, result.state)
    assert len(facts.payments) == 41
    assert all(after is before for after, before in zip(facts.payments, kept))
    assert card.records() == replay(events)
