"""What the dispatcher exposes: plain attributes for code and tests, Prometheus series for dashboards.

``queue_depth`` is the backpressure signal: notifications accepted by
``submit`` and not yet finished on every channel. When it reaches
``queue_size``, ``submit`` waits and ``backpressure_waits`` counts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass
class DispatcherMetrics:
    queue_depth: int = 0
    queue_capacity: int = 0
    delivered: int = 0
    printed: int = 0
    failed: int = 0
    retries: int = 0
    attempts: int = 0
    skipped_duplicates: int = 0
    digests: int = 0
    backpressure_waits: int = 0
    handed_over: int = 0
    registry: CollectorRegistry = field(default_factory=CollectorRegistry, repr=False)

    def __post_init__(self) -> None:
        r = self.registry
        self._depth = Gauge("baton_notify_queue_depth", "Notifications submitted and not yet finished", registry=r)
        self._capacity = Gauge("baton_notify_queue_capacity", "Notifications in flight before submit() waits", registry=r)
        self._lane_depth = Gauge(
            "baton_notify_destination_queue_depth", "Messages waiting for one destination", ["channel"], registry=r
        )
        self._outcomes = Counter(
            "baton_notify_deliveries", "Delivery records by channel kind and status", ["kind", "status"], registry=r
        )
        self._retries = Counter("baton_notify_retries", "Attempts that will be retried", ["kind"], registry=r)
        self._digests = Counter("baton_notify_digests", "Digest messages sent under pressure", ["kind"], registry=r)
        self._waits = Counter("baton_notify_backpressure_waits", "submit() calls that had to wait", registry=r)
        self._handed = Counter("baton_notify_handed_over", "Notifications handed to the lanes by the worker that "
                               "wrote them, before their copy was read back from Kafka", registry=r)

    def set_capacity(self, n: int) -> None:
        self.queue_capacity = n
        self._capacity.set(n)

    def depth(self, delta: int) -> None:
        self.queue_depth += delta
        self._depth.set(self.queue_depth)

    def destination_depth(self, channel: str, n: int) -> None:
        self._lane_depth.labels(channel).set(n)

    def outcome(self, kind: str, status: str) -> None:
        self._outcomes.labels(kind, status).inc()
        if status == "delivered":
            self.delivered += 1
        elif status == "printed":
            self.printed += 1
        elif status == "failed":
            self.failed += 1
        elif status == "retrying":
            self.retries += 1
            self._retries.labels(kind).inc()
        elif status == "skipped-duplicate":
            self.skipped_duplicates += 1

    def digest(self, kind: str) -> None:
        self.digests += 1
        self._digests.labels(kind).inc()

    def backpressure(self) -> None:
        self.backpressure_waits += 1
        self._waits.inc()

    def hand_over(self) -> None:
        self.handed_over += 1
        self._handed.inc()

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "registry"}
