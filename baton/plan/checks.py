"""The plan's figures, each judged against the plan (formulas: docs/plan.md).

Shared by the plan as a whole and by rep diagnosis, which judges the same
figures with its own thresholds and sample sizes.
"""

from __future__ import annotations

from fractions import Fraction

from baton.plan.actuals import Actuals
from baton.plan.figures import Figure, judge
from baton.plan.wording import describe, percent


def _too_early(elapsed: Fraction, judge_after: Fraction) -> str | None:
    if elapsed < judge_after or elapsed == 0:
        return f"too early: {percent(elapsed)} of the period elapsed, judged from {percent(judge_after)}"
    return None


def pace(actuals: Actuals, target: int, elapsed: Fraction, threshold: Fraction,
         judge_after: Fraction, currency: str) -> Figure:
    """Bookings vs the target pro-rated by time: expected = target x elapsed fraction."""
    return judge("pace", Fraction(actuals.bookings), target * elapsed, threshold,
                 sample=f"bookings in {currency}", too_small=_too_early(elapsed, judge_after),
                 describe=lambda v: describe("pace", v, currency))


def leads(actuals: Actuals, per_month: Fraction, months: Fraction, elapsed: Fraction,
          threshold: Fraction, judge_after: Fraction) -> Figure:
    """Leads vs leads per month x calendar months elapsed."""
    return judge("leads", Fraction(actuals.leads), per_month * months, threshold,
                 sample=f"{actuals.leads} leads in {_months(months)}", too_small=_too_early(elapsed, judge_after),
                 describe=lambda v: describe("leads", v, ""))


def lead_to_opportunity(actuals: Actuals, assumed: Fraction, threshold: Fraction, min_leads: int) -> Figure:
    """opportunities / leads vs the assumed rate, once there are ``min_leads`` leads."""
    too_small = None
    if actuals.leads < min_leads:
        too_small = f"{actuals.leads} leads, fewer than the {min_leads} needed to judge the rate"
    return judge("lead_to_opportunity_rate", actuals.lead_to_opportunity_rate, assumed, threshold,
                 sample=f"{actuals.opportunities} opportunities of {actuals.leads} leads", too_small=too_small,
                 describe=percent)


def win_rate(actuals: Actuals, assumed: Fraction, threshold: Fraction, min_closed: int) -> Figure:
    """won / (won + lost) vs the assumed rate, once ``min_closed`` deals are won or lost."""
    too_small = None
    if actuals.closed_deals < min_closed:
        too_small = f"{actuals.closed_deals} closed deals, fewer than the {min_closed} needed to judge the rate"
    return judge("win_rate", actuals.win_rate, assumed, threshold,
                 sample=f"{actuals.deals_won} won of {actuals.closed_deals} closed", too_small=too_small,
                 describe=percent)


def average_deal_size(actuals: Actuals, assumed: int, threshold: Fraction, min_won: int, currency: str) -> Figure:
    """The scorecard's average deal size in the plan's currency vs the assumed size, once ``min_won`` are won."""
    too_small = None
    if actuals.deals_won < min_won:
        too_small = f"{actuals.deals_won} won deals, fewer than the {min_won} needed to judge the size"
    actual = None if actuals.average_deal_size is None else Fraction(actuals.average_deal_size)
    return judge("average_deal_size", actual, Fraction(assumed), threshold,
                 sample=f"{actuals.deals_won} won deals", too_small=too_small,
                 describe=lambda v: describe("average_deal_size", v, currency))


def _months(months: Fraction) -> str:
    return f"{float(months):.2f} months"
