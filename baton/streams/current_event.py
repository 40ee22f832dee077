"""Faust's "current event", set by Baton where Faust's per-event agent loop would have set it.

Table writes take their partition from the current event (the changelog partition; a
RocksDB store's database). Baton writes tables outside that loop (a batch's accounts,
the delivery ledger's marks), so it names the event, or just the partition, itself.
Both go through Faust's private context variable, kept to this one module.
"""

from __future__ import annotations

import weakref
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Iterator

from faust.streams import _current_event


def in_event(event) -> None:
    """Make ``event`` Faust's current event: table writes go to its partition (as in a per-event agent)."""
    _current_event.set(weakref.ref(event))


class _PartitionOnly:
    """Stands for an event where a store only asks for its partition."""

    __slots__ = ("message", "__weakref__")

    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(partition=partition)


@contextmanager
def in_partition(partition: int) -> Iterator[None]:
    """Within the block, the current event is one of ``partition`` (then as before)."""
    stand_in = _PartitionOnly(partition)
    token = _current_event.set(weakref.ref(stand_in))
    try:
        yield
    finally:
        _current_event.reset(token)
