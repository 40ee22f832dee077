"""How late the worker's event loop runs: a direct measure of how busy the worker is.

Everything in a worker shares one event loop: the intake, the deliveries, the
flushes, the web views. While the loop is busy every notification waits, so
its lag is the first figure to look at when latency grows. A task sleeps
``PROBE_SECONDS`` over and over; how much later than asked it wakes up is
the time the loop could not run a ready callback. Exported at ``/metrics``
(histogram ``baton_event_loop_lag_seconds``) and ``/metrics.json``
(``event_loop_lag_ms``: the latest probe and the largest of the last 10 s).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from prometheus_client import Histogram

if TYPE_CHECKING:
    from baton.streams.app import BatonApp

PROBE_SECONDS = 0.25
WINDOW_PROBES = 40  # 10 s of probes for the recent maximum
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def register(baton: "BatonApp") -> None:
    histogram = Histogram("baton_event_loop_lag_seconds",
                          f"How much later than asked a {PROBE_SECONDS} s sleep on the worker's event loop woke up",
                          buckets=BUCKETS, registry=baton.registry)
    recent: deque[float] = deque(maxlen=WINDOW_PROBES)

    @baton.faust.task
    async def watch_event_loop() -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + PROBE_SECONDS
            await asyncio.sleep(PROBE_SECONDS)
            lag = max(0.0, loop.time() - asked)
            histogram.observe(lag)
            recent.append(lag)
            baton.metrics.event_loop_lag_ms = {"last": round(lag * 1000, 1),
                                               "max_10s": round(max(recent) * 1000, 1)}
