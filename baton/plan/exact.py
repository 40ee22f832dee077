"""Exact arithmetic for plan figures: configured decimals as fractions, rounding once at the end."""

from __future__ import annotations

import math
from fractions import Fraction


def exact(value: float | int | Fraction) -> Fraction:
    """A number as the decimal it was written as: 0.3 -> 3/10, not the nearest binary float."""
    if isinstance(value, float):
        return Fraction(repr(value))  # repr is the shortest decimal that reads back as this float
    return Fraction(value)


def ratio_or_none(numerator: int, denominator: int) -> Fraction | None:
    """The contract's ratio rule: None (JSON null) when the denominator is 0."""
    return None if denominator == 0 else Fraction(numerator, denominator)


def round_half_away(value: Fraction) -> int:
    """Nearest integer, halves away from zero (the scorecard's rounding of money)."""
    magnitude = math.floor(abs(value) + Fraction(1, 2))
    return -magnitude if value < 0 else magnitude


def json_number(value: Fraction | None) -> int | float | None:
    """An int when the fraction is whole, else the nearest float."""
    if value is None:
        return None
    return value.numerator if value.denominator == 1 else float(value)
