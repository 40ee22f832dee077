"""``evaluate``: where a plan stands at an instant, from its period's scorecard record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from fractions import Fraction
from typing import Any

from baton.plan import checks
from baton.plan.actuals import Actuals
from baton.plan.config import PlanSettings
from baton.plan.exact import exact, json_number
from baton.plan.figures import Figure
from baton.plan.outlook import Outlook, outlook, yield_basis
from baton.plan.wording import FIGURE_ORDER

ON_TRACK, AT_RISK, NOT_STARTED = "on_track", "at_risk", "not_started"


@dataclass(frozen=True)
class PlanStatus:
    plan: str  # the plan's key (its name, else its period)
    period: str
    currency: str
    at: datetime
    period_start: datetime
    period_end: datetime
    elapsed_fraction: Fraction
    months_elapsed: Fraction
    figures: dict[str, Figure]
    outlook: Outlook

    @property
    def broken(self) -> tuple[str, ...]:
        """The figures at risk, in FIGURE_ORDER (so equal states compare equal)."""
        return tuple(name for name in FIGURE_ORDER if self.figures[name].at_risk)

    @property
    def status(self) -> str:
        if self.elapsed_fraction == 0:
            return NOT_STARTED
        return AT_RISK if self.broken else ON_TRACK

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "period": self.period,
            "currency": self.currency,
            "at": _iso(self.at),
            "period_start": _iso(self.period_start),
            "period_end": _iso(self.period_end),
            "elapsed_fraction": json_number(self.elapsed_fraction),
            "months_elapsed": json_number(self.months_elapsed),
            "status": self.status,
            "broken": list(self.broken),
            "figures": {name: self.figures[name].to_dict() for name in FIGURE_ORDER},
            "outlook": self.outlook.to_dict(),
        }


def evaluate(plan: PlanSettings, scorecard_record_for_period: dict[str, Any] | None, now: datetime) -> PlanStatus:
    """Judge ``plan`` at ``now`` (timezone-aware) from the scorecard record whose scope is the plan's period."""
    record = scorecard_record_for_period
    if record and record.get("scope") not in (None, plan.period):
        raise ValueError(f"plan {plan.key} is for {plan.period}, not for scope {record.get('scope')!r}")
    period = plan.period_bounds
    elapsed, months = period.elapsed_fraction(now), period.months_elapsed(now)
    actuals = Actuals.from_record(record, plan.currency)
    assumed = {
        "lead_to_opportunity_rate": exact(plan.lead_to_opportunity_rate),
        "win_rate": exact(plan.win_rate),
        "average_deal_size": Fraction(plan.average_deal_size),
    }
    tolerance, judge_after = exact(plan.assumption_tolerance), exact(plan.judge_after_fraction)
    figures = {
        "pace": checks.pace(actuals, plan.revenue_target, elapsed, exact(plan.pace_threshold), judge_after,
                            plan.currency),
        "leads": checks.leads(actuals, exact(plan.leads_per_month), months, elapsed, tolerance, judge_after),
        "lead_to_opportunity_rate": checks.lead_to_opportunity(
            actuals, assumed["lead_to_opportunity_rate"], tolerance, plan.min_leads_for_rate),
        "win_rate": checks.win_rate(actuals, assumed["win_rate"], tolerance, plan.min_closed_deals_for_win_rate),
        "average_deal_size": checks.average_deal_size(
            actuals, plan.average_deal_size, tolerance, plan.min_won_deals_for_deal_size, plan.currency),
    }
    money = outlook(plan.revenue_target, actuals.bookings, elapsed, yield_basis(figures, assumed))
    return PlanStatus(plan.key, plan.period, plan.currency, now.astimezone(timezone.utc), period.start, period.end,
                      elapsed, months, figures, money)


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
