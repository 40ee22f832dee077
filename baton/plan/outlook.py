"""What the plan's figures mean in money: the gap, the projection, the leads still needed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from baton.plan.exact import json_number, round_half_away
from baton.plan.figures import NOT_JUDGED, Figure

ACTUAL, ASSUMED = "actual", "assumed"
# The rates a new lead turns into bookings through, in funnel order.
YIELD_FIGURES = ("lead_to_opportunity_rate", "win_rate", "average_deal_size")


@dataclass(frozen=True)
class Basis:
    """One factor of a lead's expected yield, and whether it is the actual or the plan's value."""

    figure: str
    value: Fraction
    source: str  # actual | assumed
    why_assumed: str | None  # the figure's reason when the actual could not be used

    def to_dict(self) -> dict[str, Any]:
        return {"value": json_number(self.value), "source": self.source, "why_assumed": self.why_assumed}


@dataclass(frozen=True)
class Outlook:
    revenue_target: int
    bookings: int
    revenue_gap: int  # max(target - bookings, 0)
    projected_bookings: int | None  # bookings / elapsed fraction; None before the period starts
    leads_still_needed: int | None  # None when not reachable at these rates
    basis: tuple[Basis, ...]

    @property
    def reachable(self) -> bool:
        return self.leads_still_needed is not None

    @property
    def assumed(self) -> tuple[Basis, ...]:
        return tuple(b for b in self.basis if b.source == ASSUMED)

    def to_dict(self) -> dict[str, Any]:
        return {
            "revenue_target": self.revenue_target,
            "bookings": self.bookings,
            "revenue_gap": self.revenue_gap,
            "projected_bookings": self.projected_bookings,
            "leads_still_needed": self.leads_still_needed,
            "reachable": self.reachable,
            "basis": {b.figure: b.to_dict() for b in self.basis},
        }


def yield_basis(figures: dict[str, Figure], assumed: dict[str, Fraction]) -> tuple[Basis, ...]:
    """The actual value of each yield factor once it is judged, else the plan's (a thin sample is no evidence)."""
    basis = []
    for name in YIELD_FIGURES:
        figure = figures[name]
        if figure.status == NOT_JUDGED or figure.actual is None:
            basis.append(Basis(name, assumed[name], ASSUMED, figure.reason))
        else:
            basis.append(Basis(name, figure.actual, ACTUAL, None))
    return tuple(basis)


def leads_needed(gap: int, basis: tuple[Basis, ...]) -> int | None:
    """ceil(gap / (lead-to-opportunity x win rate x deal size)); 0 when no gap; None when a factor is 0."""
    if gap <= 0:
        return 0
    per_lead = math.prod((b.value for b in basis), start=Fraction(1))
    if per_lead == 0:
        return None
    return math.ceil(Fraction(gap) / per_lead)


def outlook(target: int, bookings: int, elapsed: Fraction, basis: tuple[Basis, ...]) -> Outlook:
    gap = max(target - bookings, 0)
    projected = None if elapsed == 0 else round_half_away(bookings / elapsed)
    return Outlook(target, bookings, gap, projected, leads_needed(gap, basis), basis)
