"""TimeSlice: a long loop yields once its budget is spent, and only then."""

from __future__ import annotations

import asyncio
import time

from baton.streams.time_slice import TimeSlice


def test_pause_yields_only_when_the_budget_is_spent():
    async def run() -> tuple[int, int]:
        ran = 0

        async def other() -> None:
            nonlocal ran
            while True:
                ran += 1
                await asyncio.sleep(0)

        task = asyncio.ensure_future(other())
        await asyncio.sleep(0)
        start = ran
        turn = TimeSlice(budget=3600.0)
        for _ in range(1000):
            await turn.pause()  # never due: no yield, so the other task cannot run
        not_due = ran - start
        turn = TimeSlice(budget=0.001)
        start = ran
        deadline = time.perf_counter() + 0.05
        while time.perf_counter() < deadline:  # 50 ms of work in 1 ms slices
            await turn.pause()
        due = ran - start
        task.cancel()
        return not_due, due

    not_due, due = asyncio.run(run())
    assert not_due == 0
    assert 20 <= due <= 60


def test_due_reports_a_spent_budget():
    turn = TimeSlice(budget=0.0)
    assert turn.due()
    assert not TimeSlice(budget=3600.0).due()
