"""eager_step: a coroutine's first step at once, the rest (if any) in a task that can be cancelled.

The worker runs Faust's consumer with it (every e2e test); these pin down its
contract on plain asyncio.
"""

from __future__ import annotations

import asyncio

import pytest

from baton.streams import eager_drain
from baton.streams.eager_drain import eager_step


def run(coro):
    return asyncio.run(coro)


def test_a_coroutine_that_does_not_wait_is_done_in_the_first_step():
    seen = []

    async def deliver(x):
        seen.append(x)

    async def main():
        before = len(asyncio.all_tasks())
        assert eager_step(deliver(1)) is None
        assert seen == [1]  # done before eager_step returned: no task, no turn of the loop
        assert len(asyncio.all_tasks()) == before

    run(main())


def test_an_error_in_the_first_step_is_raised_at_once():
    async def broken():
        raise ValueError("bad record")

    async def main():
        with pytest.raises(ValueError, match="bad record"):
            eager_step(broken())

    run(main())


def test_a_coroutine_that_waits_is_carried_on_with_its_result_and_its_errors():
    async def main():
        gate = asyncio.get_running_loop().create_future()
        steps = []

        async def deliver():
            steps.append("first")
            value = await gate
            steps.append("second")
            return value * 2

        rest = eager_step(deliver())
        assert rest is not None and steps == ["first"]
        gate.set_result(21)
        assert await rest == 42 and steps == ["first", "second"]

        failing = asyncio.get_running_loop().create_future()

        async def deliver_failing():
            await failing

        rest = eager_step(deliver_failing())
        failing.set_exception(KeyError("gone"))
        with pytest.raises(KeyError):
            await rest

    run(main())


def test_a_bare_yield_is_carried_on_too():
    async def main():
        steps = []

        async def deliver():
            steps.append(1)
            await asyncio.sleep(0)
            steps.append(2)
            return "done"

        rest = eager_step(deliver())
        assert steps == [1]
        assert await rest == "done" and steps == [1, 2]

    run(main())


@pytest.mark.parametrize("resumed_first", [False, True])
def test_cancelling_the_rest_cancels_the_coroutine_where_it_waits(resumed_first):
    """What Faust does when a rebalance suspends the flow while a delivery is blocked."""

    async def main():
        loop = asyncio.get_running_loop()
        first, second = loop.create_future(), loop.create_future()
        cleaned = []

        async def deliver():
            try:
                await first
                await second
            finally:
                cleaned.append(True)

        rest = eager_step(deliver())
        if resumed_first:  # blocked on its second wait, already inside its task
            first.set_result(None)
            for _ in range(3):
                await asyncio.sleep(0)
        rest.cancel()
        for _ in range(3):
            await asyncio.sleep(0)
        assert cleaned == [True]  # the coroutine saw the cancellation and ran its finally
        assert (second if resumed_first else first).cancelled()
        with pytest.raises(asyncio.CancelledError):
            await rest

    run(main())


def test_install_only_over_the_faust_code_it_was_written_for(monkeypatch):
    from faust.transport.consumer import Consumer

    original = Consumer._drain_messages
    assert original is not eager_drain._drain_messages  # the test process never built a worker
    monkeypatch.setattr(Consumer, "_drain_messages", original)  # put back after the test
    pinned = eager_drain.FAUST_DRAIN_SHA256
    monkeypatch.setattr(eager_drain, "FAUST_DRAIN_SHA256", "0" * 64)
    assert eager_drain.install() is False
    assert Consumer._drain_messages is original and not eager_drain.installed()
    monkeypatch.setattr(eager_drain, "FAUST_DRAIN_SHA256", pinned)
    assert eager_drain.install() is True  # the installed faust-streaming is the one it was written for
    assert Consumer._drain_messages is eager_drain._drain_messages and eager_drain.installed()


def test_cancelled_after_what_it_waits_for_is_done_but_before_it_resumed():
    """Task.cancel semantics: the coroutine does not carry on past its wait."""

    async def main():
        gate = asyncio.get_running_loop().create_future()
        steps = []

        async def deliver():
            await gate
            steps.append("carried on")

        rest = eager_step(deliver())
        gate.set_result(None)  # done: the resumption is scheduled, not yet run
        rest.cancel()
        for _ in range(3):
            await asyncio.sleep(0)
        assert steps == []

    run(main())


def test_a_coroutine_yielding_something_else_than_a_future_is_refused():
    class Odd:
        def __await__(self):
            yield "not a future"

    async def deliver():
        await Odd()

    async def main():
        with pytest.raises(RuntimeError, match="not a future"):
            eager_step(deliver())

    run(main())
