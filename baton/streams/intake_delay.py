"""How long after it was produced an input record is handled: the intake's share of a notification's latency.

Per batch, the delay of its oldest record, from the record's Kafka timestamp
(the producer's clock: skew between machines shows up here) to three moments:

- ``fetched``: the record reaches the intake (Kafka and the fetch: the
  consumer's thread, then the event loop's turn to hand it over; with the
  intake feed, when the batch's first record arrived in the feed);
- ``picked_up``: the intake starts on the batch (add the wait for the
  previous batch and the batching window);
- ``handled``: the batch's output records are queued in the producer (add
  the broker's acknowledgement to have them readable in Kafka).

Exported at ``/metrics`` (histogram ``baton_intake_delay_seconds{moment}``)
and ``/metrics.json`` (``intake_delay_ms``: the median and the largest of the
last ``WINDOW`` batches, per moment).
"""

from __future__ import annotations

import time
from collections import deque

from prometheus_client import CollectorRegistry, Histogram

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
WINDOW = 200
MOMENTS = ("fetched", "picked_up", "handled")


class IntakeDelay:
    def __init__(self, registry: CollectorRegistry) -> None:
        histogram = Histogram("baton_intake_delay_seconds",
                              "Time from an input record's Kafka timestamp to it reaching the intake "
                              "(fetched), the intake starting on its batch (picked_up) and the batch's output "
                              "being queued (handled); the oldest record of each batch", ["moment"],
                              buckets=BUCKETS, registry=registry)
        self._histograms = {moment: histogram.labels(moment) for moment in MOMENTS}
        self._recent: dict[str, deque[float]] = {moment: deque(maxlen=WINDOW) for moment in MOMENTS}

    def observe(self, moment: str, produced_at: float | None, at: float | None = None) -> None:
        """``produced_at``: the oldest record's Kafka timestamp (epoch seconds), None if it has none;
        ``at``: when the moment was (epoch seconds), now by default."""
        if not produced_at:
            return
        delay = max(0.0, (time.time() if at is None else at) - produced_at)
        self._histograms[moment].observe(delay)
        self._recent[moment].append(delay)

    def summary_ms(self) -> dict[str, dict[str, float]]:
        out = {}
        for moment, recent in self._recent.items():
            values = sorted(recent)
            out[moment] = ({"p50": round(values[len(values) // 2] * 1000, 1), "max": round(values[-1] * 1000, 1)}
                           if values else {})
        return out


def epoch_of(monotonic_time: float) -> float:
    """A ``time.monotonic()`` reading as epoch seconds (what Kafka timestamps are in)."""
    return time.time() - (time.monotonic() - monotonic_time)


def fetched_at(message) -> float | None:
    """When Faust handed ``message`` to the streams, in epoch seconds: its monitor stamps
    ``time_in`` (monotonic) as the consumer delivers it. None when no monitor stamped it."""
    time_in = getattr(message, "time_in", None)
    return epoch_of(time_in) if time_in else None
