"""Rep diagnosis: is a rep short of leads ("starved") or short of conversion ("not converting")?

Judged from each rep's scorecard record for the plan's period with the same
figure checks as the plan (docs/plan.md): leads received vs ``leads_per_rep``
pro-rated, and the rep's lead-to-opportunity and win rates vs the plan's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from baton.plan import checks
from baton.plan.actuals import Actuals
from baton.plan.config import PlanSettings
from baton.plan.exact import exact, json_number, round_half_away
from baton.plan.figures import NOT_JUDGED, Figure

STARVED, NOT_CONVERTING, OK = "starved", "not_converting", "ok"
REP_FIGURES = ("leads", "lead_to_opportunity_rate", "win_rate")
REP_SCOPE_PREFIX = "rep:"


@dataclass(frozen=True)
class RepDiagnosis:
    rep_id: str
    plan: str
    period: str
    currency: str
    figures: dict[str, Figure]
    bookings: int  # the rep's bookings in the plan's currency
    plan_yield_per_lead: Fraction  # plan lead-to-opportunity x win rate x deal size

    @property
    def status(self) -> str:
        # Conversion only means something once the rep has the leads they were promised.
        if self.figures["leads"].at_risk:
            return STARVED
        if self.figures["lead_to_opportunity_rate"].at_risk or self.figures["win_rate"].at_risk:
            return NOT_CONVERTING
        return OK

    @property
    def leads_short(self) -> Fraction:
        """Committed-by-now minus received, never negative."""
        leads = self.figures["leads"]
        return max(leads.expected - (leads.actual or 0), Fraction(0))

    @property
    def bookings_short(self) -> int:
        """What the missing leads would have booked at the plan's rates."""
        return round_half_away(self.leads_short * self.plan_yield_per_lead)

    @property
    def bookings_at_plan_rates(self) -> int:
        """What the leads the rep did receive would book at the plan's rates."""
        return round_half_away((self.figures["leads"].actual or 0) * self.plan_yield_per_lead)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rep_id": self.rep_id, "plan": self.plan, "period": self.period, "currency": self.currency,
            "status": self.status,
            "figures": {name: self.figures[name].to_dict() for name in REP_FIGURES},
            "bookings": self.bookings,
            "leads_short": json_number(self.leads_short),
            "bookings_short": self.bookings_short,
            "bookings_at_plan_rates": self.bookings_at_plan_rates,
        }


def rep_id_of(scope: str) -> str:
    """``rep:r-7`` -> ``r-7``; a bare id is kept."""
    return scope[len(REP_SCOPE_PREFIX):] if scope.startswith(REP_SCOPE_PREFIX) else scope


def diagnose_reps(plan: PlanSettings, rep_records: dict[str, dict[str, Any] | None],
                  now: datetime) -> dict[str, RepDiagnosis]:
    """Diagnose every rep with a record (keyed ``rep:<owner_id>`` or ``<owner_id>``) and every rep in ``plan.reps``.

    The records must count the plan's period only. A rep listed in the plan
    without a record has received nothing, which is exactly a starved rep.
    """
    records = {rep_id_of(key): record for key, record in rep_records.items()}
    for rep_id in plan.reps:
        records.setdefault(rep_id, None)
    return {rep_id: diagnose_rep(plan, rep_id, records[rep_id], now) for rep_id in sorted(records)}


def diagnose_rep(plan: PlanSettings, rep_id: str, record: dict[str, Any] | None, now: datetime) -> RepDiagnosis:
    period = plan.period_bounds
    elapsed, months = period.elapsed_fraction(now), period.months_elapsed(now)
    actuals = Actuals.from_record(record, plan.currency)
    l2o, win = exact(plan.lead_to_opportunity_rate), exact(plan.win_rate)
    tolerance = exact(plan.rep_conversion_tolerance)
    figures = {
        "leads": _leads(plan, actuals, months, elapsed),
        "lead_to_opportunity_rate": checks.lead_to_opportunity(actuals, l2o, tolerance, plan.rep_min_leads),
        "win_rate": checks.win_rate(actuals, win, tolerance, plan.rep_min_closed_deals),
    }
    return RepDiagnosis(rep_id, plan.key, plan.period, plan.currency, figures, actuals.bookings,
                        l2o * win * plan.average_deal_size)


def _leads(plan: PlanSettings, actuals: Actuals, months: Fraction, elapsed: Fraction) -> Figure:
    if plan.leads_per_rep is None:
        return Figure("leads", NOT_JUDGED, Fraction(actuals.leads), Fraction(0), exact(plan.rep_leads_tolerance),
                      f"{actuals.leads} leads", "the plan commits no leads_per_rep")
    return checks.leads(actuals, exact(plan.leads_per_rep), months, elapsed, exact(plan.rep_leads_tolerance),
                        exact(plan.judge_after_fraction))
