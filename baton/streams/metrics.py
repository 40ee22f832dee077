"""Counters a worker keeps about itself (exported at /metrics)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class WorkerMetrics:
    events_valid: int = 0
    events_duplicate: int = 0
    events_redelivered: int = 0
    dead_letters: int = 0
    notifications: int = 0
    funnel_records: int = 0
    misrouted_records: int = 0
    # Table entries the recovery rebuild could not read, and scorecard-parts records the
    # combiner could not apply (both logged, both skipped).
    unreadable_state_entries: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    # The latest probe of baton.agents.loop_watch and the largest of the last 10 s.
    event_loop_lag_ms: dict[str, float] = field(default_factory=lambda: {"last": 0.0, "max_10s": 0.0})

    def as_dict(self) -> dict:
        return asdict(self)
