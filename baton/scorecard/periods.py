"""Calendar periods (UTC) that an instant or a ``YYYY-MM`` label falls in."""

from __future__ import annotations

import time

_DAY_MS = 86_400_000

# Period labels of a UTC day, cached: every instant of a day has the same month
# and quarter, and a replay asks for the same few days over and over.
_by_day: dict[int, tuple[str, str]] = {}


def month_label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def quarter_label(year: int, month: int) -> str:
    return f"{year:04d}-Q{(month - 1) // 3 + 1}"


def periods_of_instant(t_ms: int) -> tuple[str, str]:
    """``(month, quarter)`` of an epoch-millisecond instant, e.g. ``("2026-11", "2026-Q4")``."""
    day = t_ms // _DAY_MS  # floor division: instants before 1970 still land on their own day
    labels = _by_day.get(day)
    if labels is None:
        tm = time.gmtime(day * 86_400)
        labels = _by_day[day] = (month_label(tm.tm_year, tm.tm_mon), quarter_label(tm.tm_year, tm.tm_mon))
    return labels


def periods_of_month(label: str) -> tuple[str, str]:
    """``(month, quarter)`` of a ``YYYY-MM`` label (the contract's spend ``period``)."""
    year, month = int(label[:4]), int(label[5:7])
    return month_label(year, month), quarter_label(year, month)
