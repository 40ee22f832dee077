"""The delivery agent acknowledges a partition's notifications in offset order."""

from __future__ import annotations

from types import SimpleNamespace

from baton.agents.delivery import InOrderAcker


class FakeEvent:  # a stand-in for a Faust event: only .message and .ack() are used
    def __init__(self, partition: int, offset: int, log: list) -> None:
        self.message = SimpleNamespace(topic="m2c.notifications", partition=partition, offset=offset)
        self.log = log

    def ack(self) -> None:
        self.log.append((self.message.partition, self.message.offset))


def test_out_of_order_completion_is_acked_in_order_per_partition():
    acked: list = []
    acker = InOrderAcker()
    slots = {(p, o): acker.track(FakeEvent(p, o, acked)) for p in (0, 1) for o in range(3)}
    acker.done(slots[(0, 2)])
    acker.done(slots[(0, 1)])
    assert acked == []  # offset 0 of partition 0 is still in flight: nothing may be acked
    acker.done(slots[(1, 0)])
    assert acked == [(1, 0)]  # partitions are independent
    acker.done(slots[(0, 0)])
    assert acked == [(1, 0), (0, 0), (0, 1), (0, 2)]
