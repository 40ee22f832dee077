"""One plan figure judged: an actual against what the plan expects by now.

Every figure uses the same test, written once here: a figure is ``at_risk``
when ``actual < threshold x expected``, ``ok`` otherwise, and ``not_judged``
while its sample is too small (or the period too young) to mean anything.
Comparisons are exact fractions, so a value right on the threshold is ok.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable

from baton.plan.exact import json_number
from baton.plan.wording import percent

OK, AT_RISK, NOT_JUDGED = "ok", "at_risk", "not_judged"


@dataclass(frozen=True)
class Figure:
    name: str  # pace, leads, lead_to_opportunity_rate, win_rate, average_deal_size
    status: str  # ok | at_risk | not_judged
    actual: Fraction | None
    expected: Fraction  # the assumed value, or the pro-rated target/commitment by now
    threshold: Fraction
    sample: str  # what the actual was computed from, e.g. "6 won of 20 closed"
    reason: str  # why this status, in words

    @property
    def ratio(self) -> Fraction | None:
        """actual / expected: the pace for bookings, the share of the assumption for the others."""
        if self.actual is None or self.expected == 0:
            return None
        return self.actual / self.expected

    @property
    def at_risk(self) -> bool:
        return self.status == AT_RISK

    def to_dict(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "status": self.status,
            "actual": json_number(self.actual),
            "expected": json_number(self.expected),
            "ratio": json_number(ratio),
            "threshold": json_number(self.threshold),
            "sample": self.sample,
            "reason": self.reason,
        }


def judge(name: str, actual: Fraction | None, expected: Fraction, threshold: Fraction, *,
          sample: str, too_small: str | None, describe: Callable[[Fraction], str]) -> Figure:
    """Judge one figure; ``too_small`` is the reason not to judge yet (None when the sample suffices)."""
    if too_small is not None or actual is None:
        return Figure(name, NOT_JUDGED, actual, expected, threshold, sample, too_small or "no data yet")
    below = actual < threshold * expected
    comparison = "below" if below else "at least"
    reason = f"{describe(actual)} is {comparison} {percent(threshold)} of {describe(expected)}"
    return Figure(name, AT_RISK if below else OK, actual, expected, threshold, sample, reason)
