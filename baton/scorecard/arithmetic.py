"""Exact integer arithmetic for scorecard figures: rounding, ratios, percentiles."""

from __future__ import annotations

from bisect import bisect_left
from itertools import accumulate


def round_half_away(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` to the nearest integer, halves away from zero (2.5 -> 3, -2.5 -> -3)."""
    if denominator == 0:
        raise ZeroDivisionError("round_half_away with a zero denominator")
    negative = (numerator < 0) != (denominator < 0)
    n, d = abs(numerator), abs(denominator)
    magnitude = (2 * n + d) // (2 * d)
    return -magnitude if negative else magnitude


def ratio(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator`` as the nearest float; None (JSON null) when the denominator is 0."""
    # int / int in Python is correctly rounded, so both paths (live, replay) agree bit for bit.
    return None if denominator == 0 else numerator / denominator


def nearest_rank(multiset: dict[int, int], percent: int) -> int | None:
    """The nearest-rank percentile of a multiset ``{value: how many}``.

    Sorted ascending, it is the value at 1-based rank ``ceil(percent / 100 * N)``
    (rank 1 at least): the smallest value with at least ``percent`` % of the
    values at or below it. None when the multiset is empty.
    """
    return nearest_ranks(multiset, (percent,))[0]


def nearest_ranks(multiset: dict[int, int], percents: tuple[int, ...],
                  values: list[int] | None = None) -> list[int | None]:
    """``nearest_rank`` for each of ``percents``, with one sort and one running count.

    ``values``: the multiset's keys already sorted, when the caller keeps them so.
    """
    if values is None:
        values = sorted(multiset)
    # The running count at each value (counts are positive, so it rises); in C, for
    # the hundreds of keys of a big scope.
    seen = list(accumulate(map(multiset.__getitem__, values)))
    total = seen[-1] if seen else 0
    if total <= 0:
        return [None] * len(percents)
    # Rank ceil(p / 100 x N) without floats, at least 1; its value: the first whose running count reaches it.
    return [values[bisect_left(seen, max(1, -(-percent * total // 100)))] for percent in percents]
