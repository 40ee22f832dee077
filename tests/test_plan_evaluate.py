"""Known answers for evaluate(): pace, assumptions, the money they mean. Expected values are worked by hand."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.plan import PlanSettings, evaluate
from baton.plan.outlook import ACTUAL, ASSUMED, Basis, leads_needed

UTC = timezone.utc
# Q4 2026 runs 2026-10-01 to 2027-01-01: 31 + 30 + 31 = 92 days.
MID_Q4 = datetime(2026, 11, 16, tzinfo=UTC)  # 31 + 15 = 46 days in: exactly half; 1.5 calendar months
PLAN = PlanSettings(
    period="2026-Q4", currency="USD",
    revenue_target=120_000_000,  # $1,200,000.00
    leads_per_month=400, lead_to_opportunity_rate=0.25, win_rate=0.30,
    average_deal_size=1_000_000,  # $10,000.00
)


def record(leads=0, opportunities=0, won=0, lost=0, bookings=0, deal_size=None, scope="2026-Q4") -> dict:
    """A scorecard record with the contract's field names (only those the plan reads)."""
    return {"scope": scope, "leads": leads, "opportunities": opportunities, "deals_won": won, "deals_lost": lost,
            "bookings": {"USD": bookings} if bookings else {},
            "average_deal_size": {"USD": deal_size} if deal_size is not None else None}


def test_pace_at_mid_quarter() -> None:
    # expected by now = 120,000,000 x 1/2 = 60,000,000; pace = 45,000,000 / 60,000,000 = 0.75 < 0.9
    status = evaluate(PLAN, record(bookings=45_000_000), MID_Q4)
    pace = status.figures["pace"]
    assert (pace.status, pace.actual, pace.expected, pace.ratio) == ("at_risk", 45_000_000, 60_000_000, Fraction(3, 4))
    assert status.status == "at_risk" and "pace" in status.broken
    # projected = 45,000,000 / (1/2) = 90,000,000; gap = 120,000,000 - 45,000,000 = 75,000,000
    assert (status.outlook.projected_bookings, status.outlook.revenue_gap) == (90_000_000, 75_000_000)


@pytest.mark.parametrize("bookings,expected_status", [(27_600_000, "ok"), (27_500_000, "at_risk")])
def test_pace_at_an_uneven_instant(bookings: int, expected_status: str) -> None:
    # 2026-10-24T12:00Z is 23.5 of 92 days in: elapsed = 47/184.
    # expected = 120,000,000 x 47/184 = 30,652,173.91...; 0.9 of it = 27,586,956.52...
    # 27,600,000 is above (pace 0.9004), 27,500,000 below (pace 0.8972).
    status = evaluate(PLAN, record(bookings=bookings), datetime(2026, 10, 24, 12, tzinfo=UTC))
    pace = status.figures["pace"]
    assert pace.expected == Fraction(120_000_000 * 47, 184)
    assert pace.status == expected_status
    # projected = bookings x 184/47, rounded: 27,600,000 x 184 / 47 = 108,051,063.8 -> 108,051,064
    if bookings == 27_600_000:
        assert status.outlook.projected_bookings == 108_051_064


def test_leads_are_pro_rated_by_calendar_months() -> None:
    # 1.5 months x 400 = 600 expected; 0.8 x 600 = 480. 479 leads is broken, 480 is not.
    assert evaluate(PLAN, record(leads=479), MID_Q4).figures["leads"].status == "at_risk"
    leads = evaluate(PLAN, record(leads=480), MID_Q4).figures["leads"]
    assert (leads.status, leads.expected) == ("ok", 600)


def test_win_rate_broken_and_leads_still_needed_at_current_rates() -> None:
    # l2o = 150/600 = 0.25 (ok); win = 9/(9+41) = 0.18 < 0.8 x 0.30 = 0.24 (broken); deal size 1,000,000 (ok)
    # gap = 120,000,000 - 9,000,000 = 111,000,000
    # per lead = 0.25 x 0.18 x 1,000,000 = 45,000; 111,000,000 / 45,000 = 2466.67 -> 2467 leads
    status = evaluate(PLAN, record(leads=600, opportunities=150, won=9, lost=41, bookings=9_000_000,
                                   deal_size=1_000_000), MID_Q4)
    win = status.figures["win_rate"]
    assert (win.status, win.actual, win.expected) == ("at_risk", Fraction(18, 100), Fraction(3, 10))
    assert status.figures["lead_to_opportunity_rate"].status == "ok"
    assert status.outlook.leads_still_needed == 2467
    assert all(b.source == ACTUAL for b in status.outlook.basis)


def test_a_rate_exactly_on_the_tolerance_is_ok() -> None:
    # win = 6/25 = 0.24 = 0.8 x 0.30 exactly (the binary floats nearest 0.8 and 0.3 multiply to just above 0.24).
    status = evaluate(PLAN, record(won=6, lost=19), MID_Q4)
    assert status.figures["win_rate"].status == "ok"


def test_average_deal_size_broken() -> None:
    # 5 won deals averaging 700,000 < 0.8 x 1,000,000 = 800,000
    deal = evaluate(PLAN, record(won=5, bookings=3_500_000, deal_size=700_000), MID_Q4).figures["average_deal_size"]
    assert (deal.status, deal.ratio) == ("at_risk", Fraction(7, 10))


def test_small_samples_are_not_judged() -> None:
    # One lost deal is a 0 % win rate, but 1 closed deal < 10: not judged, nothing broken.
    status = evaluate(PLAN, record(leads=29, opportunities=0, lost=1), MID_Q4.replace(day=2))
    assert status.figures["win_rate"].status == "not_judged"
    assert "1 closed deals, fewer than the 10" in status.figures["win_rate"].reason
    assert status.figures["lead_to_opportunity_rate"].status == "not_judged"  # 29 leads < 30


def test_fallback_to_assumed_values_is_said() -> None:
    # l2o = 12/40 = 0.3, judged (40 >= 30 leads): actual. win: 3 closed < 10 -> assumed 0.30.
    # deal size: 2 won < 5 -> assumed 1,000,000. gap = 120,000,000 - 2,000,000 = 118,000,000
    # per lead = 0.3 x 0.3 x 1,000,000 = 90,000; 118,000,000 / 90,000 = 1311.1 -> 1312 leads
    status = evaluate(PLAN, record(leads=40, opportunities=12, won=2, lost=1, bookings=2_000_000,
                                   deal_size=1_000_000), MID_Q4)
    basis = {b.figure: b for b in status.outlook.basis}
    assert [basis[f].source for f in ("lead_to_opportunity_rate", "win_rate", "average_deal_size")] == \
        [ACTUAL, ASSUMED, ASSUMED]
    assert "3 closed deals" in basis["win_rate"].why_assumed
    assert status.outlook.leads_still_needed == 1312
    assert status.to_dict()["outlook"]["basis"]["win_rate"]["source"] == "assumed"


def test_no_record_at_all_falls_back_to_the_plan_and_is_exact() -> None:
    # Plan yield per lead = 0.7 x 0.1 x 1,000,000 = 70,000; gap 70,000,000 -> exactly 1000 leads.
    # (The binary floats nearest 0.7 and 0.1 multiply to just under 0.07, which would give 1001.)
    plan = PLAN.model_copy(update={"revenue_target": 70_000_000, "lead_to_opportunity_rate": 0.7, "win_rate": 0.1})
    status = evaluate(plan, None, MID_Q4)
    assert status.outlook.leads_still_needed == 1000
    assert all(b.source == ASSUMED for b in status.outlook.basis)


@pytest.mark.parametrize("rec", [
    record(leads=600, opportunities=150, won=0, lost=12),  # win rate 0/12 = 0, judged
    record(leads=50, opportunities=0),  # lead-to-opportunity 0/50 = 0, judged
])
def test_zero_rates_make_the_target_unreachable(rec: dict) -> None:
    status = evaluate(PLAN, rec, MID_Q4)
    assert status.outlook.leads_still_needed is None and status.outlook.reachable is False
    assert json.loads(json.dumps(status.to_dict()))["outlook"]["leads_still_needed"] is None


def test_target_reached_needs_no_more_leads() -> None:
    status = evaluate(PLAN, record(won=0, lost=12, bookings=130_000_000), MID_Q4)
    assert (status.outlook.revenue_gap, status.outlook.leads_still_needed) == (0, 0)


def test_before_the_period_nothing_is_judged() -> None:
    status = evaluate(PLAN, None, datetime(2026, 9, 30, 23, tzinfo=UTC))
    assert status.status == "not_started" and status.broken == ()
    assert status.outlook.projected_bookings is None


def test_early_in_the_period_pace_and_leads_wait() -> None:
    # 2026-10-05 is 4/92 = 4.3 % in, below the default 10 %: zero bookings is not yet "behind".
    status = evaluate(PLAN, None, datetime(2026, 10, 5, tzinfo=UTC))
    assert status.figures["pace"].status == status.figures["leads"].status == "not_judged"
    assert status.status == "on_track"


def test_after_the_period_the_whole_target_is_expected() -> None:
    status = evaluate(PLAN, record(bookings=110_000_000), datetime(2027, 2, 1, tzinfo=UTC))
    pace = status.figures["pace"]
    # 110,000,000 / 120,000,000 = 0.9167 >= 0.9
    assert (pace.expected, pace.status, status.outlook.projected_bookings) == (120_000_000, "ok", 110_000_000)


def test_other_currencies_do_not_count() -> None:
    rec = record(bookings=60_000_000)
    rec["bookings"] = {"EUR": 60_000_000}
    assert evaluate(PLAN, rec, MID_Q4).figures["pace"].actual == 0


def test_a_record_of_another_scope_is_refused() -> None:
    with pytest.raises(ValueError, match="2026-11"):
        evaluate(PLAN, record(scope="2026-11"), MID_Q4)


def test_status_is_json() -> None:
    doc = evaluate(PLAN, record(leads=600, opportunities=150, won=9, lost=41, bookings=9_000_000,
                                deal_size=1_000_000), MID_Q4).to_dict()
    assert json.loads(json.dumps(doc)) == doc
    assert doc["broken"] == ["pace", "win_rate"]
    assert doc["figures"]["win_rate"] == {"status": "at_risk", "actual": 0.18, "expected": 0.3, "ratio": 0.6,
                                          "threshold": 0.8, "sample": "9 won of 50 closed",
                                          "reason": "18% is below 80% of 30%"}
    assert (doc["at"], doc["elapsed_fraction"], doc["months_elapsed"]) == ("2026-11-16T00:00:00Z", 0.5, 1.5)


@given(gap=st.integers(1, 10**12), opportunities=st.integers(1, 500), leads=st.integers(1, 500),
       won=st.integers(1, 50), lost=st.integers(0, 50), deal_size=st.integers(1, 10**8))
def test_leads_still_needed_is_the_fewest_leads_that_close_the_gap(gap, opportunities, leads, won, lost, deal_size):
    # n leads yield n x (opportunities/leads) x (won/closed) x deal_size; in integers, n is enough when
    # n x opportunities x won x deal_size >= gap x leads x closed, and n - 1 is not.
    closed = won + lost
    basis = (Basis("lead_to_opportunity_rate", Fraction(opportunities, leads), ACTUAL, None),
             Basis("win_rate", Fraction(won, closed), ACTUAL, None),
             Basis("average_deal_size", Fraction(deal_size), ACTUAL, None))
    n = leads_needed(gap, basis)
    per_lead_numerator, per_lead_denominator = opportunities * won * deal_size, leads * closed
    assert n * per_lead_numerator >= gap * per_lead_denominator
    assert (n - 1) * per_lead_numerator < gap * per_lead_denominator
