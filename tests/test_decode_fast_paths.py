"""The shortcuts taken for speed (bench/, docs/benchmarks.md) give exactly what the plain code gave.

- ``compact()`` reads a data model's attributes instead of calling
  ``model_dump(exclude_none=True)``: same dict, same key order.
- ``validate()`` clears most records of the future-skew rule without building
  datetimes: it rejects exactly the records the exact rule rejects, with the same reason.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from baton.demo.generator import generate
from baton.funnel.history import compact, order_key
from baton.streams.decode import MAX_FUTURE_SKEW, DeadLetter, RecordRef, decode, validate
from baton.streams.events import EVENT_ADAPTER


def compact_by_model_dump(event) -> dict:
    """``compact`` by pydantic: the declared data fields that are set (extras are not state)."""
    return {
        "id": event.id,
        "type": event.type,
        "t": int(event.occurred_at.timestamp() * 1000),
        "data": {k: v for k, v in event.data.model_dump(exclude_none=True).items() if k in type(event.data).model_fields},
        **({"account_id": event.account_id} if event.account_id is not None else {}),
    }


def test_compact_equals_model_dump_on_the_realistic_stream():
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for _topic, _key, value in itertools.islice(generate(11, 300, start), 3000):
        event = EVENT_ADAPTER.validate_json(value)
        fast, plain = compact(event), compact_by_model_dump(event)
        assert fast == plain
        assert list(fast["data"]) == list(plain["data"])  # same key order, so the same stored bytes


def test_compact_drops_extras_and_nulls():
    base = {"id": "e1", "type": "lead.created", "occurred_at": "2026-01-01T00:00:00.123456+05:30", "account_id": "a",
            "data": {"lead_id": "l", "source": "sales", "temperature": "hot", "owner_id": None, "company": "Acme",
                     "score": 1.5, "vip": True, "gone": None}}
    nested = json.loads(json.dumps(base))
    nested["data"]["crm"] = {"id": None, "tags": [1, None]}
    for doc in (base, nested):
        event = EVENT_ADAPTER.validate_json(json.dumps(doc))
        fast, plain = compact(event), compact_by_model_dump(event)
        assert fast == plain and list(fast["data"]) == list(plain["data"])
    assert compact(EVENT_ADAPTER.validate_json(json.dumps(base)))["data"] == {
        "lead_id": "l", "source": "sales", "temperature": "hot", "company": "Acme"}
    huge = json.loads(json.dumps(base))
    huge["data"]["big"] = 2**70  # pydantic accepts it; orjson could not store it
    assert "big" not in compact(EVENT_ADAPTER.validate_json(json.dumps(huge)))["data"]


def test_order_key_is_time_then_id():
    assert order_key({"t": 5, "id": "b", "data": {}}) == (5, "b")


def _event(occurred_at: str) -> bytes:
    return json.dumps({"id": "evt_1", "type": "payment.succeeded", "occurred_at": occurred_at, "account_id": "acct_1",
                       "data": {"payment_id": "p", "amount": 1, "currency": "USD"}}).encode()


def _exact_rule(occurred: datetime, timestamp_ms: int) -> bool:
    """The rule as first written: reject when occurred_at - produced > 1 day."""
    produced = datetime.fromtimestamp(timestamp_ms / 1000, tz=timezone.utc)
    return occurred - produced > MAX_FUTURE_SKEW


@settings(max_examples=400, deadline=None)
@given(
    timestamp_ms=st.integers(min_value=1_500_000_000_000, max_value=2_000_000_000_000),
    delta_us=st.one_of(
        st.integers(min_value=-5 * 86_400_000_000, max_value=5 * 86_400_000_000),
        # right at the boundary: 1 day after the record, give or take a few milliseconds
        st.integers(min_value=86_400_000_000 - 5_000, max_value=86_400_000_000 + 5_000),
    ),
    offset_minutes=st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1),
)
def test_future_skew_shortcut_rejects_exactly_what_the_exact_rule_rejects(timestamp_ms, delta_us, offset_minutes):
    produced = datetime.fromtimestamp(timestamp_ms / 1000, tz=timezone.utc)
    tz = timezone(timedelta(minutes=offset_minutes))
    occurred = (produced + timedelta(microseconds=delta_us)).astimezone(tz)
    value = _event(occurred.isoformat())
    parsed = EVENT_ADAPTER.validate_json(value).occurred_at
    out = validate(value, b"acct_1", timestamp_ms)
    rejected = isinstance(out, str)
    assert rejected == _exact_rule(parsed, timestamp_ms)
    if rejected:
        assert out.startswith(f"occurred_at {parsed.isoformat()} is more than 1 day(s) after the record was produced")
        dl = decode(RecordRef("m2c.payments", 0, 7, b"acct_1", timestamp_ms), value)
        assert isinstance(dl, DeadLetter) and dl.reason == out
