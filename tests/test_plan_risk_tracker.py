"""RiskTracker: one revenue-at-risk draft per change of state, with the figures and the money in words."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from baton.plan import PlanSettings, RiskTracker, evaluate
from baton.rules.drafts import console_router, to_notification

UTC = timezone.utc
MID_Q4 = datetime(2026, 11, 16, tzinfo=UTC)  # half of Q4 2026 (46 of 92 days), 1.5 months
PLAN = PlanSettings(period="2026-Q4", currency="USD", revenue_target=120_000_000, leads_per_month=400,
                    lead_to_opportunity_rate=0.25, win_rate=0.30, average_deal_size=1_000_000)


def status(won: int, lost: int, bookings: int):
    """600 leads and 150 opportunities (on plan); the deals and bookings vary. Deal size = bookings / won."""
    rec = {"scope": "2026-Q4", "leads": 600, "opportunities": 150, "deals_won": won, "deals_lost": lost,
           "bookings": {"USD": bookings}, "average_deal_size": {"USD": bookings // won} if won else None}
    return evaluate(PLAN, rec, MID_Q4)


# Pace: expected by now 60,000,000, 0.9 of it 54,000,000. Win rate broken below 0.24.
ON_PLAN = status(won=15, lost=35, bookings=60_000_000)  # win 0.30, pace 1.0
WIN_BROKEN = status(won=9, lost=41, bookings=54_000_000)  # win 0.18, pace 0.9 (ok), deal size 6,000,000
WIN_BROKEN_WORSE = status(won=8, lost=42, bookings=54_400_000)  # win 0.16: same state
WIN_AND_PACE = status(won=9, lost=41, bookings=9_000_000)  # win 0.18, pace 0.15
PACE_ONLY = status(won=15, lost=35, bookings=15_000_000)  # win 0.30, pace 0.25


def test_states_of_the_fixtures() -> None:
    assert [s.broken for s in (ON_PLAN, WIN_BROKEN, WIN_BROKEN_WORSE, WIN_AND_PACE, PACE_ONLY)] == \
        [(), ("win_rate",), ("win_rate",), ("pace", "win_rate"), ("pace",)]


def test_fires_once_per_change_of_state_and_says_back_on_track() -> None:
    tracker = RiskTracker()
    assert tracker.observe(ON_PLAN) is None  # a plan starts on track: nothing changed
    first = tracker.observe(WIN_BROKEN)
    assert (first.rule, first.severity, first.notification_id) == \
        ("revenue-at-risk", "warning", "revenue-at-risk:2026-Q4:win_rate#1")
    assert first.teams == ("sales", "marketing", "leadership") and first.account_id is None
    assert tracker.observe(WIN_BROKEN) is None
    assert tracker.observe(WIN_BROKEN_WORSE) is None  # worse numbers, same broken figures
    both = tracker.observe(WIN_AND_PACE)
    assert (both.severity, both.cause_id) == ("critical", "2026-Q4:pace,win_rate#2")  # behind on bookings
    pace_only = tracker.observe(PACE_ONLY)
    assert pace_only.cause_id == "2026-Q4:pace#3" and "Recovered: win rate." in pace_only.text
    back = tracker.observe(ON_PLAN)
    assert (back.severity, back.cause_id, back.title) == ("info", "2026-Q4:on-track#4", "Back on track: 2026-Q4 plan")
    assert tracker.observe(ON_PLAN) is None
    again = tracker.observe(WIN_BROKEN)  # the same state as the first one notifies again, with a new id
    assert again.notification_id == "revenue-at-risk:2026-Q4:win_rate#5"


def test_the_draft_names_the_figure_both_values_and_the_money() -> None:
    draft = RiskTracker().observe(WIN_BROKEN)
    # gap = 120,000,000 - 54,000,000 = 66,000,000; per lead = 0.25 x 0.18 x 6,000,000 = 270,000
    # 66,000,000 / 270,000 = 244.4 -> 245 leads
    assert "Win rate 18% vs 30% assumed (9 won of 50 closed)." in draft.text
    assert "$660,000.00 to go: at current rates 245 more leads are needed to reach $1,200,000.00." in draft.text
    assert draft.facts["win_rate_actual"] == 0.18 and draft.facts["win_rate_expected"] == 0.3
    assert draft.facts["leads_still_needed"] == 245 and draft.facts["broken"] == "win_rate"
    assert all(isinstance(v, (str, int, float, bool, type(None))) for v in draft.facts.values())  # flat


def test_pace_line_gives_the_money_behind() -> None:
    draft = RiskTracker().observe(WIN_AND_PACE)
    # 9,000,000 booked vs 60,000,000 expected = 15 %; projection 9,000,000 / 0.5 = 18,000,000
    assert ("Pace 15% of the pro-rated target: $90,000.00 booked vs $600,000.00 expected by now "
            "(50% of 2026-Q4 elapsed); at this pace $180,000.00 of $1,200,000.00.") in draft.text


def test_unreachable_target_is_said() -> None:
    zero_wins = status(won=0, lost=12, bookings=0)
    draft = RiskTracker().observe(zero_wins)
    assert "not reachable at current rates (win rate at zero)" in draft.text
    assert draft.facts["reachable"] is False and draft.facts["leads_still_needed"] is None


def test_state_survives_json_and_a_replay_repeats_the_same_id() -> None:
    tracker = RiskTracker()
    tracker.observe(WIN_BROKEN)
    snapshot = json.loads(json.dumps(tracker.to_dict()))
    assert RiskTracker.from_dict(snapshot).observe(WIN_BROKEN_WORSE) is None
    # A crash after notifying but before storing the new state: the replayed change has the same id (deduped).
    before_change = json.loads(json.dumps(tracker.to_dict()))
    sent = tracker.observe(WIN_AND_PACE)
    replayed = RiskTracker.from_dict(before_change).observe(WIN_AND_PACE)
    assert replayed.notification_id == sent.notification_id
    assert RiskTracker.from_dict(None).observe(ON_PLAN) is None


def test_plans_are_tracked_separately() -> None:
    eur = PLAN.model_copy(update={"name": "q4-eur", "currency": "EUR"})
    tracker = RiskTracker()
    assert tracker.observe(WIN_BROKEN) is not None
    other = tracker.observe(evaluate(eur, None, MID_Q4))  # nothing at mid-quarter: pace and leads broken
    assert other.cause_id == "q4-eur:pace,leads#1"


def test_draft_becomes_a_contract_notification() -> None:
    note = to_notification(RiskTracker().observe(WIN_BROKEN), console_router, created_at="2026-11-16T00:00:00.000Z")
    assert note.id == "revenue-at-risk:2026-Q4:win_rate#1" and note.team == "sales"
    assert note.cause.type == "plan.state_changed"
