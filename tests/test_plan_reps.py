"""Rep diagnosis (starved / not converting / ok) and RepTracker's once-per-change drafts."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from baton.plan import PlanSettings, RepTracker, diagnose_reps

UTC = timezone.utc
MID_Q4 = datetime(2026, 11, 16, tzinfo=UTC)  # 1.5 calendar months into Q4 2026
# Committed by now: 40 x 1.5 = 60 leads; starved below 0.8 x 60 = 48.
# Converting below plan: lead-to-opportunity < 0.8 x 0.25 = 0.2, or win rate < 0.8 x 0.30 = 0.24.
PLAN = PlanSettings(period="2026-Q4", currency="USD", revenue_target=120_000_000, leads_per_month=400,
                    lead_to_opportunity_rate=0.25, win_rate=0.30, average_deal_size=1_000_000, leads_per_rep=40,
                    reps=["r-new"])


def rep(leads=0, opportunities=0, won=0, lost=0, bookings=0) -> dict:
    return {"leads": leads, "opportunities": opportunities, "deals_won": won, "deals_lost": lost,
            "bookings": {"USD": bookings}}


def statuses(records: dict, plan: PlanSettings = PLAN) -> dict[str, str]:
    return {rep_id: d.status for rep_id, d in diagnose_reps(plan, records, MID_Q4).items()}


def test_starved_not_converting_and_ok() -> None:
    assert statuses({
        "rep:r-short": rep(leads=47, opportunities=12),  # 47 < 48: starved
        "rep:r-enough": rep(leads=48, opportunities=12),  # 48 is 0.8 x 60: enough; 12/48 = 0.25 ok
        "rep:r-no-opps": rep(leads=60, opportunities=11),  # 11/60 = 0.183 < 0.2: not converting
        "rep:r-no-wins": rep(leads=60, opportunities=15, won=1, lost=4),  # win 1/5 = 0.2 < 0.24
        "rep:r-both": rep(leads=10, opportunities=0),  # starved first: conversion is judged with the leads
    }) == {"r-short": "starved", "r-enough": "ok", "r-no-opps": "not_converting", "r-no-wins": "not_converting",
           "r-both": "starved", "r-new": "starved"}  # r-new is in the plan with no record: 0 leads


def test_small_samples_do_not_condemn_a_rep() -> None:
    # 4 closed deals < 5 and 9 leads < 10 before rates count (leads are judged on their own)
    assert statuses({"rep:r-1": rep(leads=60, opportunities=15, won=0, lost=4)}, PLAN.model_copy(update={"reps": []})) \
        == {"r-1": "ok"}
    assert diagnose_reps(PLAN, {"r-2": rep(leads=9)}, MID_Q4)["r-2"].figures["lead_to_opportunity_rate"].status \
        == "not_judged"


def test_without_leads_per_rep_no_rep_is_starved() -> None:
    plan = PLAN.model_copy(update={"leads_per_rep": None, "reps": ["r-new"]})
    assert statuses({"rep:r-1": rep(leads=2, opportunities=1)}, plan) == {"r-1": "ok", "r-new": "ok"}


def test_what_a_starved_rep_costs() -> None:
    d = diagnose_reps(PLAN, {"rep:r-1": rep(leads=47)}, MID_Q4)["r-1"]
    # 60 - 47 = 13 leads short x (0.25 x 0.30 x 1,000,000 = 75,000 per lead) = 975,000
    assert (d.leads_short, d.bookings_short) == (13, 975_000)
    assert json.loads(json.dumps(d.to_dict()))["status"] == "starved"


def test_tracker_fires_once_per_change_per_rule() -> None:
    tracker = RepTracker()
    starved = diagnose_reps(PLAN, {"r-1": rep(leads=20)}, MID_Q4)
    [first, new_rep] = tracker.observe(starved)
    assert (first.rule, first.teams, first.severity, first.notification_id) == \
        ("rep-starved", ("marketing",), "warning", "rep-starved:2026-Q4:r-1:starved#1")
    assert new_rep.notification_id == "rep-starved:2026-Q4:r-new:starved#1"
    # 20 received vs 60 committed: 40 short x 75,000 = 3,000,000 = $30,000.00
    assert "r-1: 20 leads received vs 60 committed by now; 40 short, about $30,000.00" in first.text
    assert tracker.observe(starved) == []
    assert tracker.observe(diagnose_reps(PLAN, {"r-1": rep(leads=25)}, MID_Q4)) == []  # still starved

    # Enough leads now, but 6/60 = 10 % to opportunity: marketing hears it is over, sales management why.
    not_converting = diagnose_reps(PLAN, {"r-1": rep(leads=60, opportunities=6, bookings=1_000_000)}, MID_Q4)
    drafts = {d.rule: d for d in tracker.observe(not_converting)}
    assert drafts["rep-starved"].severity == "info"
    assert drafts["rep-starved"].notification_id == "rep-starved:2026-Q4:r-1:ok#2"
    nc = drafts["rep-not-converting"]
    assert (nc.teams, nc.severity, nc.cause_id) == (("sales-management",), "warning", "2026-Q4:r-1:not-converting#1")
    # 60 leads x 75,000 = 4,500,000 at plan rates; booked 1,000,000
    assert "lead-to-opportunity rate 10% vs 25% assumed (6 opportunities of 60 leads)" in nc.text
    assert "would book about $45,000.00; booked so far $10,000.00" in nc.text

    ok = diagnose_reps(PLAN, {"r-1": rep(leads=60, opportunities=15)}, MID_Q4)
    [recovered] = tracker.observe(ok)
    assert (recovered.rule, recovered.severity, recovered.cause_id) == \
        ("rep-not-converting", "info", "2026-Q4:r-1:ok#2")


def test_tracker_state_round_trips_through_json() -> None:
    tracker = RepTracker()
    starved = diagnose_reps(PLAN, {"r-1": rep(leads=20)}, MID_Q4)
    tracker.observe(starved)
    restored = RepTracker.from_dict(json.loads(json.dumps(tracker.to_dict())))
    assert restored.observe(starved) == []
