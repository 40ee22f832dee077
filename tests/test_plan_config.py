"""Plan configuration: validation, TOML loading, and the period arithmetic it relies on."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from fractions import Fraction

import pytest
from pydantic import ValidationError

from baton.plan import PlanSettings
from baton.plan.period import Period
from baton.settings import Settings

UTC = timezone.utc
BASE = dict(period="2026-Q4", currency="USD", revenue_target=120_000_000, leads_per_month=400,
            lead_to_opportunity_rate=0.25, win_rate=0.3, average_deal_size=1_000_000)


def test_defaults_are_the_documented_thresholds() -> None:
    plan = PlanSettings(**BASE)
    assert (plan.pace_threshold, plan.assumption_tolerance) == (0.9, 0.8)
    assert plan.key == "2026-Q4"
    assert PlanSettings(**BASE, name="q4-emea").key == "q4-emea"


@pytest.mark.parametrize("field,value", [
    ("win_rate", 1.2), ("win_rate", -0.1), ("lead_to_opportunity_rate", 2), ("pace_threshold", 1.5),
    ("period", "2026-13"), ("period", "2026-Q5"), ("period", "26-Q1"), ("period", "2026-11-01"),
    ("currency", "usd"), ("revenue_target", 0), ("average_deal_size", -5), ("leads_per_month", -1),
    ("name", "q4:emea"), ("unknown_field", 1),
])
def test_invalid_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        PlanSettings(**{**BASE, field: value})


def test_plans_load_from_toml_tables(tmp_path, monkeypatch) -> None:
    config = tmp_path / "baton.toml"
    config.write_text("""
[[plans]]
period = "2026-Q4"
currency = "USD"
revenue_target = 120000000
leads_per_month = 400
lead_to_opportunity_rate = 0.25
win_rate = 0.30
average_deal_size = 1000000
leads_per_rep = 40
reps = ["r-1", "r-2"]

[[plans]]
period = "2026-11"
currency = "EUR"
revenue_target = 5000000
leads_per_month = 100
lead_to_opportunity_rate = 0.2
win_rate = 0.25
average_deal_size = 250000
pace_threshold = 0.85
""")
    monkeypatch.setenv("BATON_CONFIG", str(config))
    plans = Settings().plans
    assert [(p.period, p.currency, p.leads_per_rep) for p in plans] == [("2026-Q4", "USD", 40), ("2026-11", "EUR", None)]
    assert plans[0].reps == ["r-1", "r-2"] and plans[1].pace_threshold == 0.85


def test_two_plans_with_the_same_key_are_refused() -> None:
    with pytest.raises(ValidationError, match="distinct `name`"):
        Settings(plans=[BASE, {**BASE, "currency": "EUR"}])
    assert len(Settings(plans=[BASE, {**BASE, "currency": "EUR", "name": "q4-eur"}]).plans) == 2


def test_period_bounds_are_calendar_exact() -> None:
    q4, feb, q1 = Period.parse("2026-Q4"), Period.parse("2028-02"), Period.parse("2027-Q1")
    assert (q4.start, q4.end) == (datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert feb.end - feb.start == timedelta(days=29)  # 2028 is a leap year
    assert q1.end - q1.start == timedelta(days=31 + 28 + 31)


def test_elapsed_fraction_and_months_elapsed() -> None:
    q4 = Period.parse("2026-Q4")  # 92 days: Oct 31 + Nov 30 + Dec 31
    noon_oct_24 = datetime(2026, 10, 24, 12, tzinfo=UTC)
    assert q4.elapsed_fraction(noon_oct_24) == Fraction(47, 2 * 92)  # 23.5 days of 92
    assert q4.months_elapsed(noon_oct_24) == Fraction(47, 2 * 31)  # 23.5 days of October's 31
    # The end of October is exactly one month in, though it is 31/92 (not 1/3) of the quarter.
    nov_1 = datetime(2026, 11, 1, tzinfo=UTC)
    assert (q4.months_elapsed(nov_1), q4.elapsed_fraction(nov_1)) == (1, Fraction(31, 92))
    # Any offset is converted: 02:00+02:00 is midnight UTC.
    assert q4.elapsed_fraction(datetime(2026, 11, 1, 2, tzinfo=timezone(timedelta(hours=2)))) == Fraction(31, 92)
    assert q4.elapsed_fraction(datetime(2026, 9, 30, tzinfo=UTC)) == 0
    assert q4.elapsed_fraction(datetime(2027, 3, 1, tzinfo=UTC)) == 1
    assert q4.months_elapsed(datetime(2027, 3, 1, tzinfo=UTC)) == 3


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Period.parse("2026-11").elapsed_fraction(datetime(2026, 11, 2))
