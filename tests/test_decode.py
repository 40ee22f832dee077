"""Decoding raw records: valid events come out typed; everything else as a dead letter with a reason."""

from __future__ import annotations

import json

import pytest

from baton.streams.decode import DeadLetter, RecordRef, decode
from baton.streams.events import EVENT_TYPES

REF = RecordRef("m2c.payments", 3, 42, b"acct_acme", timestamp_ms=1_795_000_000_000)  # 2026-11-18


def payment(**over):
    ev = {"id": "evt_1", "type": "payment.succeeded", "occurred_at": "2026-11-17T10:04:00Z", "account_id": "acct_acme",
          "source": "stripe", "data": {"payment_id": "pay_1", "amount": 1200000, "currency": "USD"}}
    ev.update(over)
    return json.dumps(ev).encode()


def reason(value: bytes, ref: RecordRef = REF) -> str:
    out = decode(ref, value)
    assert isinstance(out, DeadLetter), out
    assert (out.topic, out.partition, out.offset, out.key) == (ref.topic, ref.partition, ref.offset, "acct_acme")
    return out.reason


def test_valid_event_keeps_unknown_fields_and_parses_offsets():
    ev = decode(REF, payment(extra_field={"x": 1}, occurred_at="2026-11-17T12:04:00+02:00"))
    assert not isinstance(ev, DeadLetter)
    assert ev.data.amount == 1200000 and ev.occurred_at.utcoffset().total_seconds() == 7200
    assert ev.model_extra == {"extra_field": {"x": 1}}


@pytest.mark.parametrize("value, expected", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "value must be a JSON object, got list"),
    (payment(type="deal.teleported"), "unknown type 'deal.teleported'"),
    (payment(data={"payment_id": "p", "currency": "USD"}), "missing required field 'data.amount'"),
    (payment(data={"payment_id": "p", "amount": "12", "currency": "USD"}), "data.amount: Input should be a valid integer"),
    (payment(data={"payment_id": "p", "amount": 1.5, "currency": "USD"}), "data.amount"),
    (payment(data={"payment_id": "p", "amount": -1, "currency": "USD"}), "amount must not be negative (got -1)"),
    (payment(data={"payment_id": "p", "amount": 1, "currency": "US"}), "3-letter ISO 4217 code"),
    (payment(occurred_at="2026-11-17T10:04:00"), "RFC 3339 time with an offset"),
    (payment(occurred_at="yesterday"), "RFC 3339"),
    (payment(account_id="acct_other"), "differs from account_id 'acct_other'"),
    (payment(occurred_at="2027-01-01T00:00:00Z"), "more than 1 day(s) after the record was produced"),
    (payment(id=""), "id: String should have at least 1 character"),
])
def test_bad_records_are_dead_lettered_with_an_actionable_reason(value, expected):
    assert expected in reason(value)


def test_non_utf8_bytes_are_kept_exactly():
    import base64

    out = decode(REF, b"\xff\xfe{")
    assert isinstance(out, DeadLetter)
    assert base64.b64decode(out.raw_base64) == b"\xff\xfe{"


def test_tombstone_is_dead_lettered():
    assert "tombstone" in reason(None)  # type: ignore[arg-type]


def test_deep_json_is_rejected_not_crashing():
    assert "recursion limit" in reason(b"[" * 10000 + b"]" * 10000)


def test_spend_needs_no_account_and_any_key():
    spend = {"id": "s1", "type": "spend.recorded", "occurred_at": "2026-11-17T10:00:00Z",
             "data": {"spend_id": "s1", "amount": 100, "currency": "USD", "team": "marketing", "campaign_id": "c-1"}}
    ev = decode(RecordRef("m2c.spend", 0, 1, b"c-1"), json.dumps(spend).encode())
    assert not isinstance(ev, DeadLetter) and ev.account_id is None


def test_every_contract_type_is_modelled():
    assert set(EVENT_TYPES) == {
        "signup.created", "lead.created", "lead.assigned", "lead.contacted", "lead.qualified", "lead.disqualified",
        "deal.created", "deal.stage_changed", "deal.won", "deal.lost", "payment.succeeded", "payment.failed",
        "payment.refunded", "subscription.cancelled", "spend.recorded"}
