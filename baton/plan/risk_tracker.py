"""``RiskTracker``: turns successive plan statuses into one ``revenue-at-risk`` draft per change of state."""

from __future__ import annotations

from typing import Any

from baton.plan import risk_drafts
from baton.plan.evaluate import PlanStatus
from baton.plan.state_log import StateLog
from baton.rules.drafts import Draft

ON_TRACK_STATE = "on-track"


class RiskTracker:
    """State: per plan key, the set of figures last reported at risk (``pace,win_rate`` or ``on-track``).

    A plan starts on track, so the first status only notifies if something is
    already broken. Pure and JSON-serialisable: keep ``to_dict()`` in a table.
    """

    def __init__(self, log: StateLog | None = None) -> None:
        self.log = log or StateLog(ON_TRACK_STATE)

    def observe(self, status: PlanStatus) -> Draft | None:
        state = ",".join(status.broken) or ON_TRACK_STATE
        previous = self.log.state(status.plan)
        change = self.log.record(status.plan, state)
        if change is None:
            return None
        previously_broken = () if previous == ON_TRACK_STATE else tuple(previous.split(","))
        return risk_drafts.build(status, previously_broken, change)

    def to_dict(self) -> dict[str, Any]:
        return self.log.to_dict()

    @classmethod
    def from_dict(cls, doc: dict[str, Any] | None) -> "RiskTracker":
        return cls(StateLog.from_dict(ON_TRACK_STATE, doc))
