"""Event rules and money formatting: the wording people read."""

from __future__ import annotations

import pytest

from baton.funnel.history import AccountHistory
from baton.rules.drafts import to_notification, console_router
from baton.rules.money import format_money
from baton.streams.processor import source_of, step


@pytest.mark.parametrize("amount, currency, text", [
    (1200000, "USD", "$12,000.00"), (5, "EUR", "€0.05"), (1000, "JPY", "¥1,000"), (123456, "CHF", "1,234.56 CHF"),
    (1500, "KWD", "1.500 KWD"), (0, "GBP", "£0.00"),
])
def test_format_money(amount, currency, text):
    assert format_money(amount, currency) == text


def ev(id_, type_, t, **data):
    return {"id": id_, "type": type_, "t": t, "data": data, "account_id": "acct_acme"}


SLA = {"hot": 300, "warm": 3600, "cold": 86400}.__getitem__


def test_payment_to_sales_names_company_deal_and_owner():
    h = AccountHistory("acct_acme")
    step(h, ev("e1", "signup.created", 1, company="Acme", email="a@acme.example"), SLA)
    step(h, ev("e2", "deal.created", 2, deal_id="d-9", amount=1200000, currency="USD", owner_id="r-7"), SLA)
    result = step(h, ev("e3", "payment.succeeded", 3, payment_id="pay_1", amount=1200000, currency="USD",
                        deal_id="d-9"), SLA)
    [draft] = result.drafts
    note = to_notification(draft, console_router, created_at="2026-11-22T10:04:00.120Z")
    assert note.id == "payment-to-sales:e3" and note.team == "sales" and note.severity == "info"
    assert note.title == "Acme paid $12,000.00"
    assert note.text == "Payment pay_1 of $12,000.00 from Acme (deal d-9, owner r-7)."
    assert note.cause.event_id == "e3" and note.cause.type == "payment.succeeded"
    assert note.facts["owner_id"] == "r-7"


def test_duplicate_changes_nothing_and_redelivery_renotifies_with_same_id():
    h = AccountHistory("acct_acme")
    first = ev("e1", "payment.succeeded", 1, payment_id="p", amount=1, currency="USD")
    first["src"] = ["payments", 0, 10]
    assert step(h, first, SLA).drafts
    dup = dict(first, src=["payments", 0, 11])  # same id, another record: a producer retry
    result = step(h, dup, SLA)
    assert result.duplicate and not result.drafts and not result.changed and len(h) == 1
    again = dict(first)  # the very same record after a crash
    result = step(h, again, SLA)
    assert result.redelivered and [d.notification_id for d in result.drafts] == ["payment-to-sales:e1"]


def test_redelivery_is_recognised_when_the_history_was_read_back_from_bytes():
    # In memory ``src`` is a tuple; an account loaded from the table has JSON lists.
    h = AccountHistory("acct_acme")
    first = ev("e1", "payment.succeeded", 1, payment_id="p", amount=1, currency="USD")
    first["src"] = source_of("payments", 0, 10)
    step(h, first, SLA)
    stored = AccountHistory.from_bytes(h.to_bytes())
    assert stored.events[0]["src"] == ["payments", 0, 10]
    again = dict(first, src=source_of("payments", 0, 10))
    assert step(stored, again, SLA).redelivered
    other = dict(first, src=source_of("payments", 0, 11))
    assert step(stored, other, SLA).duplicate


def test_an_events_source_leaves_the_cyclic_gcs_lists():
    # Histories live long: what they hold should not be traversed by every collection.
    # A list ``src`` would stay tracked for good; a tuple of atoms is untracked at the first.
    import gc

    src = source_of("payments", 0, 10)
    gc.collect()
    assert not gc.is_tracked(src)


def test_hot_lead_only_for_hot_temperature_and_deadline_follows_window():
    h = AccountHistory("acct_acme")
    warm = step(h, ev("e1", "lead.created", 0, lead_id="l1", source="sales", temperature="warm"), SLA)
    assert warm.drafts == []
    hot = step(h, ev("e2", "lead.created", 60_000, lead_id="l2", source="marketing", temperature="hot"), SLA)
    [draft] = hot.drafts
    assert draft.facts["deadline"] == "1970-01-01T00:06:00.000Z"  # 60 s + 300 s window


def test_deal_won_to_marketing_only_with_a_campaign():
    h = AccountHistory("acct_acme")
    step(h, ev("e1", "deal.created", 1, deal_id="d1", amount=10, currency="USD", owner_id="r"), SLA)
    rules = [d.rule for d in step(h, ev("e2", "deal.won", 2, deal_id="d1", amount=10, currency="USD"), SLA).drafts]
    assert rules == ["deal-won-to-finance"]
    h2 = AccountHistory("acct_acme")
    step(h2, ev("e1", "deal.created", 1, deal_id="d1", amount=10, currency="USD", owner_id="r", campaign_id="c-3"), SLA)
    rules = [d.rule for d in step(h2, ev("e2", "deal.won", 2, deal_id="d1", amount=10, currency="USD"), SLA).drafts]
    assert rules == ["deal-won-to-finance", "deal-won-to-marketing"]


def test_lead_sla_breach_says_how_far_past_the_window_the_contact_came():
    from baton.funnel.fold import fold
    from baton.rules.timer_rules import lead_sla_breach

    h = AccountHistory("acct_acme")
    step(h, ev("e1", "lead.created", 0, lead_id="l1", source="marketing", temperature="hot",
                company="Acme", contact_name="Ada", owner_id="r-2"), SLA)
    step(h, ev("e2", "lead.contacted", 305_000, lead_id="l1", owner_id="r-2"), SLA)
    draft = lead_sla_breach(fold(h), "l1", SLA, now_ms=400_000)
    assert draft is not None
    assert draft.text == "Hot lead Ada at Acme was contacted 5 s past its 5 min follow-up window (owner r-2)."
