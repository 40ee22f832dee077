"""Digest under pressure: one message instead of a flood.

A destination takes about one message a second (Slack's per-channel limit);
a burst, a replay or an outage that just ended can queue hundreds. When more
than ``threshold`` messages wait for one destination, the next send takes up
to ``max_size`` of them at once and the channel renders them as one digest.
Each notification in a digest is still recorded (ledger and deliveries) on
its own.
"""

from __future__ import annotations

from collections import deque
from typing import TypeVar

T = TypeVar("T")


def take_batch(queue: deque[T], threshold: int, max_size: int) -> list[T]:
    """The next message's contents: the oldest item, or a digest of the oldest ``max_size`` under pressure."""
    if not queue:
        return []
    size = min(len(queue), max_size) if len(queue) > threshold else 1
    return [queue.popleft() for _ in range(size)]
