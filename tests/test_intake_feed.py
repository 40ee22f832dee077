"""IntakeFeed: records from Faust's conductor to the intake in batches, tracked and acknowledged.

The worker runs on it (every e2e test, the chaos, restart and rebalance tests
included; test_e2e_foundation asserts it is in place). These pin down its
bookkeeping with Faust's own message class and flow control, around a
consumer that records what Faust's would be told.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from faust.types import TP
from faust.types.tuples import ConsumerMessage
from mode.utils.queues import FlowControlEvent

from baton.streams.intake_feed import IntakeFeed

INPUT, OTHER = "m2c.leads", "m2c.other"


class Consumer:
    """What the feed tells Faust's consumer: records tracked (pending ack) and acknowledged."""

    def __init__(self) -> None:
        self.tracked: list[int] = []
        self.acked: list[int] = []

    def track_message(self, message) -> None:
        self.tracked.append(message.offset)

    def ack(self, message) -> bool:
        message.acked = True
        self.acked.append(message.offset)
        return True


class Buffer:
    async def wait_until_ebb(self) -> None:
        return None


class Conductor:
    def __init__(self) -> None:
        self.built: list[TP] = []

    def _build_handler(self, tp, channels):
        self.built.append(tp)
        return ("faust's handler", tp)


def make_app(generation: int = 3):
    flow = FlowControlEvent(initially_suspended=False)
    out: list[int] = []
    app = SimpleNamespace(topics=Conductor(), flow_control=flow, consumer=Consumer(),
                          producer=SimpleNamespace(buffer=Buffer()), consumer_generation_id=generation,
                          sensors=SimpleNamespace(on_message_out=lambda tp, offset, message: out.append(offset)))
    return app, out


def message(offset: int, generation: int = 3, topic: str = INPUT):
    return ConsumerMessage(topic, 0, offset, 1_700_000_000.0, 0, None, b"k", b"v", None,
                           generation_id=generation)


def installed(app, **kwargs) -> tuple[IntakeFeed, object]:
    feed = IntakeFeed(app, {INPUT}, **kwargs)
    assert feed.install()
    return feed, app.topics._build_handler(TP(INPUT, 0), set())


def run(coro):
    return asyncio.run(coro)


def test_only_the_feeds_topics_are_routed_to_it():
    async def main():
        app, _ = make_app()
        feed, handler = installed(app)
        assert handler == feed._on_message
        assert app.topics._build_handler(TP(OTHER, 1), set()) == ("faust's handler", TP(OTHER, 1))
        assert app.topics.built == [TP(OTHER, 1)]

    run(main())


def test_records_are_taken_in_order_at_most_max_records_at_a_time_then_acknowledged():
    async def main():
        app, out = make_app()
        feed, handler = installed(app)
        for offset in range(5):
            await handler(message(offset))
        first, fetched = await feed.take(3)
        assert [r.message.offset for r in first] == [0, 1, 2]
        assert fetched is not None
        assert app.consumer.tracked == [0, 1, 2] and app.consumer.acked == []  # pending ack while handled
        second, _ = await feed.take(3)
        assert [r.message.offset for r in second] == [3, 4]
        feed.done(first)
        assert app.consumer.acked == [0, 1, 2] and out == [0, 1, 2]
        feed.done(first)  # acknowledged once only
        assert app.consumer.acked == [0, 1, 2]

    run(main())


def test_records_fetched_before_a_rebalance_are_neither_handled_nor_acknowledged():
    async def main():
        app, _ = make_app(generation=4)
        feed, handler = installed(app)
        await handler(message(0, generation=3))  # fetched in the previous generation
        await handler(message(1, generation=4))
        records, _ = await feed.take(10)
        assert [r.message.offset for r in records] == [1]
        assert app.consumer.tracked == [1]

        await handler(message(2, generation=4))
        app.flow_control.suspend()  # a rebalance began after it was fetched
        records, _ = await feed.take(10)
        assert records == [] and app.consumer.tracked == [1]

    run(main())


def test_flow_control_clears_what_waits_when_partitions_are_revoked():
    async def main():
        app, _ = make_app()
        feed, handler = installed(app)
        await handler(message(0))
        await handler(message(1))
        app.flow_control.suspend()
        app.flow_control.clear()  # what Faust does on revocation
        assert len(feed) == 0
        app.flow_control.resume()
        await handler(message(0))  # read again from the committed offset
        records, _ = await feed.take(10)
        assert [r.message.offset for r in records] == [0]

    run(main())


def test_a_full_feed_makes_the_conductor_wait_until_the_intake_takes():
    async def main():
        app, _ = make_app()
        feed, handler = installed(app, max_pending=2)
        await handler(message(0))
        await handler(message(1))
        blocked = asyncio.ensure_future(handler(message(2)))
        await asyncio.sleep(0.01)
        assert not blocked.done() and len(feed) == 2
        records, _ = await feed.take(10)
        await asyncio.wait_for(blocked, 1)
        assert [r.message.offset for r in records] == [0, 1] and len(feed) == 1

    run(main())


async def held_until_resumed(app, feed, waiting: asyncio.Future) -> None:
    """``waiting`` (a conductor handing over one record, flow suspended, feed empty) holds
    the record back until the flow resumes, then hands it over."""
    await asyncio.sleep(0.01)
    assert not waiting.done() and len(feed) == 0
    app.flow_control.resume()
    await asyncio.wait_for(waiting, 1)
    assert len(feed) == 1


def test_a_suspended_flow_makes_the_conductor_wait_until_it_resumes():
    async def main():
        app, _ = make_app()
        feed, handler = installed(app)
        app.flow_control.suspend()
        waiting = asyncio.ensure_future(handler(message(0)))
        await held_until_resumed(app, feed, waiting)

    run(main())


def test_an_idle_intake_waits_for_records_and_then_for_its_window():
    async def main():
        app, _ = make_app()
        feed, handler = installed(app, window=0.05)
        taking = asyncio.ensure_future(feed.take(10))
        await asyncio.sleep(0.01)
        assert not taking.done()
        await handler(message(0))
        await asyncio.sleep(0.01)
        assert not taking.done()  # within the window
        await handler(message(1))
        records, _ = await asyncio.wait_for(taking, 1)
        assert [r.message.offset for r in records] == [0, 1]

    run(main())


def test_a_resume_keeps_what_arrived_after_the_seek():
    async def main():
        app, _ = make_app()
        feed, handler = installed(app)
        await handler(message(7))
        app.flow_control.resume()  # mode's resume() clears its queues: not the feed's fresh records
        records, _ = await feed.take(10)
        assert [r.message.offset for r in records] == [7]

    run(main())


def test_a_conductor_waiting_for_room_when_a_rebalance_begins_waits_for_the_resume():
    async def main():
        app, _ = make_app()
        feed, handler = installed(app, max_pending=1)
        await handler(message(0))
        waiting = asyncio.ensure_future(handler(message(1)))
        await asyncio.sleep(0.01)
        app.flow_control.suspend()
        app.flow_control.clear()  # frees room: the waiting record must not slip in now
        await held_until_resumed(app, feed, waiting)

    run(main())


def test_the_monitor_sees_the_intakes_partitions_take_events():
    # Faust's stall detector reports a partition with lag whose stream took no event lately.
    async def main():
        app, _ = make_app()
        app.monitor = SimpleNamespace(stream_inbound_time={}, events_total=0)
        feed, handler = installed(app)
        await handler(message(0))
        await handler(ConsumerMessage(INPUT, 2, 5, 1_700_000_000.0, 0, None, b"k", b"v", None, generation_id=3))
        await feed.take(10)
        assert set(app.monitor.stream_inbound_time) == {TP(INPUT, 0), TP(INPUT, 2)}
        assert app.monitor.events_total == 2

    run(main())


async def batches_awaiting_kafka(feed, handler, count: int) -> list[asyncio.Future]:
    """``count`` one-record batches (offsets 0, 1, ...) handled, each waiting for its output's future."""
    loop = asyncio.get_running_loop()
    sent = []
    for offset in range(count):
        await handler(message(offset))
        batch, _ = await feed.take(10)
        sent.append(loop.create_future())
        feed.done_when_sent(batch, sent[-1])
    return sent


def test_batches_are_acknowledged_once_their_output_is_in_kafka_and_in_order():
    async def main():
        app, _ = make_app()
        feed, handler = installed(app)
        sent = await batches_awaiting_kafka(feed, handler, 3)
        sent[1].set_result(None)  # the second batch's output is in Kafka first
        await asyncio.sleep(0)
        assert app.consumer.acked == []  # not before the first one's
        sent[0].set_result(None)
        await asyncio.sleep(0)
        assert app.consumer.acked == [0, 1]
        sent[2].set_result(None)
        await asyncio.sleep(0)
        assert app.consumer.acked == [0, 1, 2]

    run(main())


def test_after_an_output_kafka_refused_nothing_more_is_acknowledged():
    async def main():
        app, _ = make_app()
        feed, handler = installed(app)
        sent = await batches_awaiting_kafka(feed, handler, 3)
        sent[0].set_result(None)
        sent[1].set_exception(RuntimeError("refused"))
        sent[2].set_result(None)
        await asyncio.sleep(0)
        assert app.consumer.acked == [0]  # read again after the restart, from offset 1

        await handler(message(3))
        batch, _ = await feed.take(10)
        feed.done_when_sent(batch, None)  # shutting down: not queued
        assert app.consumer.acked == [0]

    run(main())
