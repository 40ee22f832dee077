"""A plan period (``YYYY-MM`` or ``YYYY-Qn``) as exact UTC bounds, and how much of it has elapsed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fractions import Fraction

PERIOD_PATTERN = re.compile(r"^(\d{4})-(?:(0[1-9]|1[0-2])|Q([1-4]))$")
_MICROSECOND = timedelta(microseconds=1)


def _month_start(year: int, month: int) -> datetime:
    """First instant of ``month`` (1-based, may be 13+: it rolls into the next years)."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Period:
    label: str
    year: int
    first_month: int  # 1..12
    months: int  # 1 for a month, 3 for a quarter

    @classmethod
    def parse(cls, label: str) -> "Period":
        match = PERIOD_PATTERN.match(label)
        if not match:
            raise ValueError(f"period must be YYYY-MM or YYYY-Qn, got {label!r}")
        year, month, quarter = match.groups()
        if quarter:
            return cls(label, int(year), (int(quarter) - 1) * 3 + 1, 3)
        return cls(label, int(year), int(month), 1)

    @property
    def start(self) -> datetime:
        return _month_start(self.year, self.first_month)

    @property
    def end(self) -> datetime:
        """Exclusive: the first instant after the period."""
        return _month_start(self.year, self.first_month + self.months)

    def elapsed_fraction(self, now: datetime) -> Fraction:
        """(now - start) / (end - start), clamped to [0, 1], exact to the microsecond."""
        return _fraction_between(self.start, self.end, now)

    def months_elapsed(self, now: datetime) -> Fraction:
        """Whole calendar months elapsed plus the elapsed fraction of the current month.

        Per-month figures (leads per month) are pro-rated with this, so the end of
        October is exactly 1 month into Q4, whatever the months' lengths.
        """
        total = Fraction(0)
        for i in range(self.months):
            total += _fraction_between(_month_start(self.year, self.first_month + i),
                                       _month_start(self.year, self.first_month + i + 1), now)
        return total


def _fraction_between(start: datetime, end: datetime, now: datetime) -> Fraction:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC): a naive datetime is ambiguous")
    if now <= start:
        return Fraction(0)
    if now >= end:
        return Fraction(1)
    return Fraction((now - start) // _MICROSECOND, (end - start) // _MICROSECOND)
