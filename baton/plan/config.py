"""A revenue plan for one period, as configured (``[[plans]]`` tables in baton.toml).

Money is in integer minor units of the plan's ``currency`` (the contract's
convention); rates and thresholds are fractions in [0, 1]. docs/plan.md
explains every field and formula.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from baton.plan.period import Period

Rate = Annotated[float, Field(ge=0, le=1)]


class PlanSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, description="Identifies the plan in ids; default: the period.")
    period: str = Field(description="YYYY-MM or YYYY-Qn (UTC calendar).")
    currency: str = Field(description="ISO 4217 code; bookings in other currencies are not counted.")
    revenue_target: int = Field(gt=0, description="Bookings target for the period, minor units.")

    # --- the funnel sales and marketing agreed on ------------------------------
    leads_per_month: float = Field(ge=0)
    lead_to_opportunity_rate: Rate
    win_rate: Rate
    average_deal_size: int = Field(gt=0, description="Minor units.")
    leads_per_rep: float | None = Field(None, ge=0, description="Leads committed per rep per month.")
    reps: list[str] = Field(default_factory=list, description="Reps diagnosed even when they have no record yet.")

    # --- when a figure is at risk ----------------------------------------------
    pace_threshold: Rate = 0.9  # bookings below 90 % of the pro-rated target
    assumption_tolerance: Rate = 0.8  # an actual below 80 % of the assumed value
    # Time-pro-rated figures (pace, leads) are noise in the period's first hours.
    judge_after_fraction: Rate = 0.1
    min_leads_for_rate: int = Field(30, ge=1, description="Leads before lead-to-opportunity is judged.")
    min_closed_deals_for_win_rate: int = Field(10, ge=1, description="Won + lost before win rate is judged.")
    min_won_deals_for_deal_size: int = Field(5, ge=1, description="Won deals before deal size is judged.")

    # --- rep diagnosis -------------------------------------------------------------
    rep_leads_tolerance: Rate = 0.8  # starved: fewer than 80 % of the committed leads
    rep_conversion_tolerance: Rate = 0.8  # not converting: a rate below 80 % of the plan's
    rep_min_leads: int = Field(10, ge=1, description="A rep's leads before their lead-to-opportunity is judged.")
    rep_min_closed_deals: int = Field(5, ge=1, description="A rep's won + lost before their win rate is judged.")

    @field_validator("period")
    @classmethod
    def _period_is_a_month_or_quarter(cls, v: str) -> str:
        Period.parse(v)
        return v

    @field_validator("name")
    @classmethod
    def _name_is_id_safe(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9._-]+", v):
            raise ValueError("plan name may contain only letters, digits, '.', '_' and '-'")
        return v

    @field_validator("currency")
    @classmethod
    def _currency_is_iso(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", v):
            raise ValueError(f"currency must be an ISO 4217 code like USD, got {v!r}")
        return v

    @property
    def key(self) -> str:
        return self.name or self.period

    @property
    def period_bounds(self) -> Period:
        return Period.parse(self.period)


def _keys_are_unique(plans: list[PlanSettings]) -> list[PlanSettings]:
    seen: set[str] = set()
    for plan in plans:
        if plan.key in seen:
            raise ValueError(f"two plans are keyed {plan.key!r}: give one a distinct `name`")
        seen.add(plan.key)
    return plans


# The `plans` setting: plan keys name notifications, so they must be unique.
Plans = Annotated[list[PlanSettings], AfterValidator(_keys_are_unique)]
