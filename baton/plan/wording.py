"""How plan figures read in notification text: labels, percentages, counts, money."""

from __future__ import annotations

from fractions import Fraction

from baton.plan.exact import round_half_away
from baton.rules.money import format_money

LABELS = {
    "pace": "Pace",
    "leads": "Leads",
    "lead_to_opportunity_rate": "Lead-to-opportunity rate",
    "win_rate": "Win rate",
    "average_deal_size": "Average deal size",
}
# The order figures are listed in, in text and in state ids.
FIGURE_ORDER = tuple(LABELS)


def percent(value: Fraction) -> str:
    """0.18 -> "18%", 0.1833 -> "18.3%" (one decimal, dropped when it is 0)."""
    tenths = round_half_away(value * 1000)
    whole, tenth = divmod(tenths, 10)
    return f"{whole}%" if tenth == 0 else f"{whole}.{tenth}%"


def count(value: Fraction) -> str:
    """A (possibly pro-rated) number of leads: "40", "38.7"."""
    tenths = round_half_away(value * 10)
    whole, tenth = divmod(tenths, 10)
    return f"{whole:,}" if tenth == 0 else f"{whole:,}.{tenth}"


def money(value: Fraction, currency: str) -> str:
    return format_money(round_half_away(value), currency)


def describe(name: str, value: Fraction, currency: str) -> str:
    """A figure's value in its own unit: money for pace and deal size, a count of leads, else a rate."""
    if name in ("pace", "average_deal_size"):
        return money(value, currency)
    if name == "leads":
        return count(value)
    return percent(value)


def names(figures: tuple[str, ...] | list[str]) -> str:
    """("win_rate", "pace") -> "win rate, pace"."""
    return ", ".join(LABELS[f].lower() for f in figures)
