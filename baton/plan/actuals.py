"""The figures a plan is judged on, read from the period's scorecard record."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from baton.plan.exact import ratio_or_none


@dataclass(frozen=True)
class Actuals:
    leads: int
    opportunities: int
    deals_won: int
    deals_lost: int
    bookings: int  # minor units of the plan's currency
    average_deal_size: int | None  # minor units of the plan's currency; None without won deals in it

    @classmethod
    def from_record(cls, record: dict[str, Any] | None, currency: str) -> "Actuals":
        """A missing record (nothing happened in the scope yet) reads as all zeros."""
        record = record or {}
        return cls(
            leads=record.get("leads") or 0,
            opportunities=record.get("opportunities") or 0,
            deals_won=record.get("deals_won") or 0,
            deals_lost=record.get("deals_lost") or 0,
            bookings=(record.get("bookings") or {}).get(currency, 0),
            average_deal_size=(record.get("average_deal_size") or {}).get(currency),
        )

    # Rates are recomputed from the counts, exactly as the contract defines them,
    # rather than read from the record's rounded floats.
    @property
    def lead_to_opportunity_rate(self) -> Fraction | None:
        return ratio_or_none(self.opportunities, self.leads)

    @property
    def closed_deals(self) -> int:
        return self.deals_won + self.deals_lost

    @property
    def win_rate(self) -> Fraction | None:
        return ratio_or_none(self.deals_won, self.closed_deals)
