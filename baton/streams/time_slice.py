"""Long loops that hand the event loop back every few milliseconds.

One event loop runs the whole worker: the intake, Faust's fetcher, the Slack
lanes, the flush timers. A loop that runs for 30 ms without an ``await`` that
yields delays every one of them by 30 ms; that is how the flush timers made
the p99 latency of a payment notification (measured: steps of the scorecard
flush up to 42 ms, of the funnel flush up to 31 ms; docs/benchmarks-latency-scale.md).
Yielding every N items does not bound the step: N items of one kind cost
1 ms in one flush and 40 in another. A time budget does.
"""

from __future__ import annotations

import asyncio
from time import perf_counter

STEP_SECONDS = 0.002  # longest run between two yields; a yield costs a few µs


class TimeSlice:
    """``await slice.pause()`` in a long loop yields to the event loop once ``budget`` seconds
    have passed since the slice began or last yielded, and is a clock read otherwise."""

    __slots__ = ("budget", "_since")

    def __init__(self, budget: float | None = None) -> None:
        self.budget = STEP_SECONDS if budget is None else budget
        self._since = perf_counter()

    def due(self) -> bool:
        return perf_counter() - self._since >= self.budget

    async def pause(self) -> None:
        if perf_counter() - self._since >= self.budget:
            await asyncio.sleep(0)
            self._since = perf_counter()
