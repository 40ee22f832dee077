"""Known answers: a small event set whose scorecard was worked out by hand.

Every expected figure below was computed on paper from the events (the
arithmetic is in the comments); nothing here is produced by calling the code
under test. Formulas: docs/scorecard.md.

The story, March (2026-Q1) into April (2026-Q2), two currencies:

acct_a (USD)  signup from campaign c-1; marketing lead L1 of rep r-1, answered in
              5 min; deal D1 (1,200,000 asked) won for 1,000,000 after 10 days;
              paid P1 1,000,000 in March; 200,000 refunded in April.
acct_b (EUR)  sales lead L2 of r-2, answered in 1 h; deal D2 (500,000, source
              sales) lost in April; deal D3 (300,000, no lead, no source) open.
acct_c (USD)  marketing lead L3 from campaign c-2, assigned to r-1 and answered
              after 24 h; deal D4 800,000 won after 10.5 days; paid P2 400,000
              without a deal id; one failed payment; cancelled in April.
acct_d        channel lead L4 of r-3 from campaign c-1, never contacted.
spend         s1 marketing 300,000 USD on c-1 for March; s2 sales 500,000 USD for
              April; s3 marketing 100,000 EUR on c-2 (no period: its April date);
              s4 marketing 60,000 USD, recorded on 2 April for period March.

Derived by the attribution rules: first-touch campaigns A -> c-1, C -> c-2,
D -> c-1, B none; account owners A r-1, B r-2, C r-1 (assigned, then D4's
owner), D r-3; account sources A marketing, B sales, C marketing, D channel.
"""

from __future__ import annotations

import orjson
import pytest

from baton.funnel.fold import fold
from baton.funnel.history import AccountHistory, compact
from baton.scorecard import Scorecard, replay
from baton.streams.events import EVENT_ADAPTER


def event(id_: str, type_: str, at: str, account: str | None, **data):
    doc = {"id": id_, "type": type_, "occurred_at": at, "data": data}
    if account is not None:
        doc["account_id"] = account
    # Through the contract's own validation, as the worker receives them.
    return EVENT_ADAPTER.validate_json(orjson.dumps(doc))


EVENTS = [
    # acct_a
    event("e1", "signup.created", "2026-03-02T09:00:00Z", "acct_a", company="Acme", email="ops@acme.test", campaign_id="c-1"),
    event("e2", "lead.created", "2026-03-02T10:00:00Z", "acct_a", lead_id="L1", source="marketing",
          temperature="hot", campaign_id="c-1", owner_id="r-1"),
    event("e3", "lead.contacted", "2026-03-02T10:05:00Z", "acct_a", lead_id="L1", owner_id="r-1"),
    event("e4", "deal.created", "2026-03-05T00:00:00Z", "acct_a", deal_id="D1", amount=1_200_000, currency="USD",
          owner_id="r-1", lead_id="L1"),
    event("e5", "deal.won", "2026-03-15T00:00:00Z", "acct_a", deal_id="D1", amount=1_000_000, currency="USD"),
    event("e6", "payment.succeeded", "2026-03-20T00:00:00Z", "acct_a", payment_id="P1", amount=1_000_000,
          currency="USD", deal_id="D1"),
    event("e7", "payment.refunded", "2026-04-02T00:00:00Z", "acct_a", payment_id="P1", amount=200_000, currency="USD"),
    # acct_b
    event("e8", "lead.created", "2026-03-10T12:00:00Z", "acct_b", lead_id="L2", source="sales", temperature="warm",
          owner_id="r-2"),
    event("e9", "lead.contacted", "2026-03-10T13:00:00Z", "acct_b", lead_id="L2", owner_id="r-2"),
    event("e10", "deal.created", "2026-03-12T00:00:00Z", "acct_b", deal_id="D2", amount=500_000, currency="EUR",
          owner_id="r-2", lead_id="L2", source="sales"),
    event("e11", "deal.lost", "2026-04-05T00:00:00Z", "acct_b", deal_id="D2", reason="price"),
    event("e12", "deal.created", "2026-04-06T00:00:00Z", "acct_b", deal_id="D3", amount=300_000, currency="EUR",
          owner_id="r-2"),
    # acct_c
    event("e13", "lead.created", "2026-03-25T08:00:00Z", "acct_c", lead_id="L3", source="marketing",
          temperature="cold", campaign_id="c-2"),
    event("e14", "lead.assigned", "2026-03-25T09:00:00Z", "acct_c", lead_id="L3", owner_id="r-1"),
    event("e15", "lead.contacted", "2026-03-26T08:00:00Z", "acct_c", lead_id="L3", owner_id="r-1"),
    event("e16", "deal.created", "2026-04-01T00:00:00Z", "acct_c", deal_id="D4", amount=800_000, currency="USD",
          owner_id="r-1", lead_id="L3", campaign_id="c-2"),
    event("e17", "deal.won", "2026-04-11T12:00:00Z", "acct_c", deal_id="D4", amount=800_000, currency="USD"),
    event("e18", "payment.succeeded", "2026-04-15T00:00:00Z", "acct_c", payment_id="P2", amount=400_000, currency="USD"),
    event("e19", "payment.failed", "2026-04-20T00:00:00Z", "acct_c", payment_id="P3", amount=400_000, currency="USD",
          reason="card_declined"),
    event("e20", "subscription.cancelled", "2026-04-25T00:00:00Z", "acct_c", reason="budget"),
    # acct_d
    event("e21", "lead.created", "2026-04-03T00:00:00Z", "acct_d", lead_id="L4", source="channel", temperature="warm",
          campaign_id="c-1", owner_id="r-3"),
    # spend
    event("s1", "spend.recorded", "2026-03-31T00:00:00Z", None, spend_id="sp1", amount=300_000, currency="USD",
          team="marketing", campaign_id="c-1", period="2026-03"),
    event("s2", "spend.recorded", "2026-04-30T00:00:00Z", None, spend_id="sp2", amount=500_000, currency="USD",
          team="sales", period="2026-04"),
    event("s3", "spend.recorded", "2026-04-01T00:00:00Z", None, spend_id="sp3", amount=100_000, currency="EUR",
          team="marketing", campaign_id="c-2"),
    event("s4", "spend.recorded", "2026-04-02T00:00:00Z", None, spend_id="sp4", amount=60_000, currency="USD",
          team="marketing", period="2026-03"),
]
# The same payment and the same spend delivered twice: each must count once.
DUPLICATES = [EVENTS[5], EVENTS[21]]

NO_SPEND = {"marketing": {}, "sales": {}}

EXPECTED = {
    "all": {
        "scope": "all",
        "leads": 4,  # L1, L2, L3, L4
        "opportunities": 4,  # D1, D2, D3, D4
        "lead_to_opportunity_rate": 1.0,  # 4 / 4
        "deals_won": 2,  # D1, D4
        "deals_lost": 1,  # D2
        "win_rate": 2 / 3,  # 2 / (2 + 1)
        "pipeline": {"EUR": 300_000},  # D3 is the only open deal
        "bookings": {"USD": 1_800_000},  # 1,000,000 (D1's won amount, not its 1,200,000 ask) + 800,000
        "average_deal_size": {"USD": 900_000},  # 1,800,000 / 2
        "average_sales_cycle_days": 10.25,  # (10 + 10.5) / 2
        "cash_collected": {"USD": 1_400_000},  # P1 1,000,000 + P2 400,000; P3 failed
        "refunds": {"USD": 200_000},
        "new_customers": 2,  # acct_a, acct_c
        "churned_customers": 1,  # acct_c
        "spend": {"marketing": {"EUR": 100_000, "USD": 360_000}, "sales": {"USD": 500_000}},  # s1+s4, s3; s2
        "cac": {"EUR": 50_000, "USD": 430_000},  # EUR 100,000 / 2; USD (360,000 + 500,000) / 2
        "sourced_pipeline": {"unknown": {"EUR": 300_000}},  # D3: no deal source, no lead
        "sourced_revenue": {"marketing": {"USD": 1_800_000}},  # D1 and D4 take their leads' source
        "campaign_revenue": {"c-1": {"USD": 1_000_000}, "c-2": {"USD": 800_000}},  # first touch of A, C
        "as_of": "2026-04-30T00:00:00.000Z",  # s2, the latest counted event
        "sales_velocity": {"USD": 234_146},  # 4 x 2/3 x 900,000 / 10.25 = 234,146.34
        "spend_split": {"paid": {"EUR": 100_000, "USD": 300_000}, "team": {"USD": 560_000}},  # s3, s1 | s2 + s4
        "paying_customers": {"USD": 2},  # acct_a, acct_c
        "active_customers": 2,  # paid or cancelled: acct_a, acct_c
        "churn_rate": 0.5,  # 1 / 2
        "arpa": {"USD": 600_000},  # (1,400,000 - 200,000) / 2
        "ltv": {"USD": 1_200_000},  # 600,000 / 0.5
        "ltv_to_cac": {"USD": 120 / 43},  # 1,200,000 / 430,000
        "leads_responded": 3,  # L1 300 s, L2 3,600 s, L3 86,400 s
        "first_response_median_seconds": 3600.0,  # rank ceil(0.5 x 3) = 2 of [300, 3600, 86400]
        "first_response_p90_seconds": 86400.0,  # rank ceil(0.9 x 3) = 3
    },
    "2026-03": {
        "scope": "2026-03",
        "leads": 3,  # L1, L2, L3 (L4 is April)
        "opportunities": 2,  # D1, D2
        "lead_to_opportunity_rate": 2 / 3,
        "deals_won": 1,  # D1 on 15 March
        "deals_lost": 0,  # D2 was lost in April
        "win_rate": 1.0,
        "pipeline": {},  # D1 won, D2 lost
        "bookings": {"USD": 1_000_000},
        "average_deal_size": {"USD": 1_000_000},
        "average_sales_cycle_days": 10.0,
        "cash_collected": {"USD": 1_000_000},  # P1
        "refunds": {},  # the refund is April's
        "new_customers": 1,  # acct_a
        "churned_customers": 0,
        "spend": {"marketing": {"USD": 360_000}, "sales": {}},  # s1 + s4 (period March)
        "cac": {"USD": 360_000},  # 360,000 / 1
        "sourced_pipeline": {},
        "sourced_revenue": {"marketing": {"USD": 1_000_000}},
        "campaign_revenue": {"c-1": {"USD": 1_000_000}},
        "as_of": "2026-04-02T00:00:00.000Z",  # s4 counts in March but occurred on 2 April
        "sales_velocity": {"USD": 200_000},  # 2 x 1 x 1,000,000 / 10
        "spend_split": {"paid": {"USD": 300_000}, "team": {"USD": 60_000}},
        "paying_customers": {"USD": 1},
        "active_customers": 1,
        "churn_rate": 0.0,  # 0 / 1
        "arpa": {"USD": 1_000_000},
        "ltv": "n/a",  # churn is 0
        "ltv_to_cac": "n/a",
        "leads_responded": 3,  # all three contacts happened in March
        "first_response_median_seconds": 3600.0,
        "first_response_p90_seconds": 86400.0,
    },
    "2026-Q2": {
        "scope": "2026-Q2",
        "leads": 1,  # L4
        "opportunities": 2,  # D3, D4
        "lead_to_opportunity_rate": 2.0,  # 2 / 1
        "deals_won": 1,  # D4
        "deals_lost": 1,  # D2
        "win_rate": 0.5,
        "pipeline": {"EUR": 300_000},  # D3
        "bookings": {"USD": 800_000},
        "average_deal_size": {"USD": 800_000},
        "average_sales_cycle_days": 10.5,  # 1 April 00:00 -> 11 April 12:00
        "cash_collected": {"USD": 400_000},  # P2
        "refunds": {"USD": 200_000},  # P1's refund on 2 April
        "new_customers": 1,  # acct_c
        "churned_customers": 1,  # acct_c
        "spend": {"marketing": {"EUR": 100_000}, "sales": {"USD": 500_000}},  # s3; s2
        "cac": {"EUR": 100_000, "USD": 500_000},
        "sourced_pipeline": {"unknown": {"EUR": 300_000}},
        "sourced_revenue": {"marketing": {"USD": 800_000}},
        "campaign_revenue": {"c-2": {"USD": 800_000}},
        "as_of": "2026-04-30T00:00:00.000Z",
        "sales_velocity": {"USD": 76_190},  # 2 x 0.5 x 800,000 / 10.5 = 76,190.48
        "spend_split": {"paid": {"EUR": 100_000}, "team": {"USD": 500_000}},
        "paying_customers": {"USD": 1},  # acct_c (acct_a only refunded)
        "active_customers": 1,
        "churn_rate": 1.0,
        "arpa": {"USD": 200_000},  # (400,000 - 200,000) / 1
        "ltv": {"USD": 200_000},  # 200,000 / 1.0
        "ltv_to_cac": {"USD": 0.4},  # 200,000 / 500,000; no EUR customer
        "leads_responded": 0,
        "first_response_median_seconds": None,
        "first_response_p90_seconds": None,
    },
    "rep:r-1": {
        "scope": "rep:r-1",
        "leads": 2,  # L1, L3 (assigned to r-1)
        "opportunities": 2,  # D1, D4
        "lead_to_opportunity_rate": 1.0,
        "deals_won": 2,
        "deals_lost": 0,
        "win_rate": 1.0,
        "pipeline": {},
        "bookings": {"USD": 1_800_000},
        "average_deal_size": {"USD": 900_000},
        "average_sales_cycle_days": 10.25,
        # P1 through D1; P2 has no deal: acct_c's owner r-1; the refund through P1 -> D1.
        "cash_collected": {"USD": 1_400_000},
        "refunds": {"USD": 200_000},
        "new_customers": 2,
        "churned_customers": 1,  # acct_c, owned by r-1
        "spend": NO_SPEND,  # spend belongs to no rep
        "cac": {},  # 2 new customers, no spend
        "sourced_pipeline": {},
        "sourced_revenue": {"marketing": {"USD": 1_800_000}},
        "campaign_revenue": {"c-1": {"USD": 1_000_000}, "c-2": {"USD": 800_000}},
        "as_of": "2026-04-25T00:00:00.000Z",  # acct_c's cancellation
        "sales_velocity": {"USD": 175_610},  # 2 x 1 x 900,000 / 10.25 = 175,609.76
        "spend_split": {"paid": {}, "team": {}},
        "paying_customers": {"USD": 2},
        "active_customers": 2,
        "churn_rate": 0.5,
        "arpa": {"USD": 600_000},
        "ltv": {"USD": 1_200_000},
        "ltv_to_cac": {"USD": None},  # no USD spend: zero denominator
        "leads_responded": 2,  # L1 300 s, L3 86,400 s
        "first_response_median_seconds": 300.0,  # rank ceil(0.5 x 2) = 1
        "first_response_p90_seconds": 86400.0,  # rank ceil(0.9 x 2) = 2
    },
    "campaign:c-1": {
        "scope": "campaign:c-1",
        "leads": 2,  # L1 (acct_a), L4 (acct_d)
        "opportunities": 1,  # D1
        "lead_to_opportunity_rate": 0.5,
        "deals_won": 1,
        "deals_lost": 0,
        "win_rate": 1.0,
        "pipeline": {},
        "bookings": {"USD": 1_000_000},
        "average_deal_size": {"USD": 1_000_000},
        "average_sales_cycle_days": 10.0,
        "cash_collected": {"USD": 1_000_000},
        "refunds": {"USD": 200_000},
        "new_customers": 1,
        "churned_customers": 0,
        "spend": {"marketing": {"USD": 300_000}, "sales": {}},  # s1
        "cac": {"USD": 300_000},
        "sourced_pipeline": {},
        "sourced_revenue": {"marketing": {"USD": 1_000_000}},
        "campaign_revenue": {"c-1": {"USD": 1_000_000}},
        "as_of": "2026-04-03T00:00:00.000Z",  # L4
        "sales_velocity": {"USD": 100_000},  # 1 x 1 x 1,000,000 / 10
        "spend_split": {"paid": {"USD": 300_000}, "team": {}},
        "paying_customers": {"USD": 1},
        "active_customers": 1,
        "churn_rate": 0.0,
        "arpa": {"USD": 800_000},  # 1,000,000 - 200,000
        "ltv": "n/a",
        "ltv_to_cac": "n/a",
        "leads_responded": 1,
        "first_response_median_seconds": 300.0,
        "first_response_p90_seconds": 300.0,
    },
    "source:sales": {
        "scope": "source:sales",
        "leads": 1,  # L2
        "opportunities": 1,  # D2 (D3 has no source: unknown)
        "lead_to_opportunity_rate": 1.0,
        "deals_won": 0,
        "deals_lost": 1,
        "win_rate": 0.0,
        "pipeline": {},
        "bookings": {},
        "average_deal_size": None,  # no won deal
        "average_sales_cycle_days": None,
        "cash_collected": {},
        "refunds": {},
        "new_customers": 0,
        "churned_customers": 0,
        "spend": {"marketing": {}, "sales": {"USD": 500_000}},  # the sales team's spend s2
        "cac": None,  # no new customer
        "sourced_pipeline": {},
        "sourced_revenue": {},
        "campaign_revenue": {},
        "as_of": "2026-04-30T00:00:00.000Z",  # s2
        "sales_velocity": None,
        "spend_split": {"paid": {}, "team": {"USD": 500_000}},
        "paying_customers": {},
        "active_customers": 0,
        "churn_rate": None,
        "arpa": None,
        "ltv": None,
        "ltv_to_cac": None,
        "leads_responded": 1,
        "first_response_median_seconds": 3600.0,
        "first_response_p90_seconds": 3600.0,
    },
}


# Figures added later (SLA compliance, accounts by stage), worked out the same way.
# Default windows: hot 300 s, warm 3,600 s, cold 86,400 s; a response exactly on the
# window counts as within. L1 hot 300 s, L2 warm 3,600 s, L3 cold 86,400 s: all within.
# Stages now: A customer (paid, refund is not churn), B opportunity (D3 open),
# C churned (cancelled after its last payment), D lead. Stages count only in
# time-less scopes, by the account's owner, first-touch campaign and source.
LATER_FIGURES = {
    "all": {"leads_responded_within_sla": 3, "sla_compliance": 1.0,
            "accounts_by_stage": {"lead": 1, "opportunity": 1, "customer": 1, "churned": 1}},
    "2026-03": {"leads_responded_within_sla": 3, "sla_compliance": 1.0, "accounts_by_stage": {}},
    "2026-Q2": {"leads_responded_within_sla": 0, "sla_compliance": None, "accounts_by_stage": {}},  # no April contact
    "rep:r-1": {"leads_responded_within_sla": 2, "sla_compliance": 1.0,  # L1, L3 contacted by r-1
                "accounts_by_stage": {"customer": 1, "churned": 1}},  # A, C owned by r-1
    "campaign:c-1": {"leads_responded_within_sla": 1, "sla_compliance": 1.0,  # L1 (A)
                     "accounts_by_stage": {"lead": 1, "customer": 1}},  # A, D
    "source:sales": {"leads_responded_within_sla": 1, "sla_compliance": 1.0,  # L2
                     "accounts_by_stage": {"opportunity": 1}},  # B
}
for _scope, _figures in LATER_FIGURES.items():
    EXPECTED[_scope].update(_figures)


@pytest.fixture(scope="module")
def records():
    return replay(EVENTS + DUPLICATES)


@pytest.mark.parametrize("scope", sorted(EXPECTED))
def test_replay_gives_the_hand_computed_record(records, scope):
    assert records[scope] == EXPECTED[scope]


def test_a_quarter_of_one_month_equals_that_month(records):
    # Every March event is the only Q1 activity, so Q1 is March under another name.
    assert records["2026-Q1"] == {**records["2026-03"], "scope": "2026-Q1"}


def test_exactly_the_expected_scopes_exist(records):
    assert sorted(records) == sorted([
        "2026-03", "2026-04", "2026-Q1", "2026-Q2", "all",
        "campaign:c-1", "campaign:c-2",
        "rep:r-1", "rep:r-2", "rep:r-3",
        "source:channel", "source:marketing", "source:sales", "source:unknown",
        # each rep's own months and quarters: r-1 and r-2 act in March and April, r-3 (L4) only in April
        "2026-03/rep:r-1", "2026-03/rep:r-2", "2026-04/rep:r-1", "2026-04/rep:r-2", "2026-04/rep:r-3",
        "2026-Q1/rep:r-1", "2026-Q1/rep:r-2", "2026-Q2/rep:r-1", "2026-Q2/rep:r-2", "2026-Q2/rep:r-3",
    ])


def test_the_live_scorecard_fed_in_reverse_equals_the_hand_computed_records():
    scorecard, histories, states = Scorecard(), {}, {}
    for ev in reversed(EVENTS + DUPLICATES):
        c = compact(ev)
        if c["type"] == "spend.recorded":
            scorecard.apply_spend(c)
            continue
        history = histories.setdefault(c["account_id"], AccountHistory(c["account_id"]))
        history.add(c)
        new_state = fold(history)
        scorecard.apply_account(states.get(c["account_id"]), new_state)
        states[c["account_id"]] = new_state
    live = scorecard.records()
    for scope, expected in EXPECTED.items():
        assert live[scope] == expected


def test_rounding_is_half_away_from_zero():
    from baton.scorecard.arithmetic import round_half_away

    assert [round_half_away(n, 2) for n in (5, 3, -5, -3, 4)] == [3, 2, -3, -2, 2]  # 2.5, 1.5, -2.5, -1.5, 2
    assert round_half_away(10, 3) == 3 and round_half_away(20, 3) == 7  # 3.33..., 6.66...


def test_nearest_rank_percentiles():
    from baton.scorecard.arithmetic import nearest_rank

    values = {10: 1, 20: 1, 30: 1, 40: 1}  # N = 4
    assert nearest_rank(values, 50) == 20  # rank ceil(2.0) = 2: the lower middle value
    assert nearest_rank(values, 90) == 40  # rank ceil(3.6) = 4
    assert nearest_rank({7: 9, 100: 1}, 90) == 7  # rank ceil(9.0) = 9, still a 7
    assert nearest_rank({}, 50) is None
