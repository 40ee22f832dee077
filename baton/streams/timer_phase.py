"""Timers of the same interval, spread over it instead of firing together.

Faust starts every ``@app.timer`` when the app starts, so the three per-flush
timers (the funnel, the scorecard parts, the scorecard records) woke up in the
same instant each second, and their work together stalled the intake and the
Slack lanes for a burst (the latency bench's slowest payments all fell in one
tenth of each second, docs/benchmarks-latency-scale.md, round 9). Faust's
timer (``mode.timers.Timer``) keeps whatever phase its first run leaves it in,
so delaying each timer's first run by a different share of its interval keeps
them apart for good.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Awaitable, Callable

TimerBody = Callable[[], Awaitable[Any]]


def phased(share: float, interval: float) -> Callable[[TimerBody], TimerBody]:
    """Delay the decorated timer body's first run by ``share`` x ``interval`` seconds (0 <= share < 1)."""
    if not 0 <= share < 1:
        raise ValueError(f"a timer's phase is a share of its interval in [0, 1), got {share}")

    def decorate(body: TimerBody) -> TimerBody:
        started = False

        @functools.wraps(body)
        async def run() -> Any:
            nonlocal started
            if not started:
                started = True
                await asyncio.sleep(share * interval)
            return await body()

        return run

    return decorate
