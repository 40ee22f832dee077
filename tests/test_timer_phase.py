"""``phased``: a timer body's first run waits its share of the interval, later runs do not."""

from __future__ import annotations

import asyncio
import time

import pytest

from baton.streams.timer_phase import phased


def test_only_the_first_run_waits_its_share_of_the_interval():
    runs: list[float] = []

    @phased(0.5, 0.2)
    async def body() -> str:
        runs.append(time.monotonic())
        return "done"

    async def main() -> list[float]:
        started = time.monotonic()
        results = [await body() for _ in range(3)]
        assert results == ["done"] * 3
        return [t - started for t in runs]

    first, second, third = asyncio.run(main())
    assert first >= 0.1  # 0.5 x 0.2 s
    assert third - first < 0.05  # no wait after the first run


@pytest.mark.parametrize("share", [-0.1, 1.0, 2])
def test_a_phase_outside_the_interval_is_refused(share):
    with pytest.raises(ValueError, match="share of its interval"):
        phased(share, 1.0)
