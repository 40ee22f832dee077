"""Plan pacing, revenue at risk and rep diagnosis: pure functions of scorecard records and time.

- ``evaluate(plan, period_record, now) -> PlanStatus``: pace and each assumption, judged.
- ``RiskTracker.observe(status) -> Draft | None``: ``revenue-at-risk`` once per change of state.
- ``diagnose_reps(plan, rep_records, now)`` and ``RepTracker.observe(diagnoses) -> [Draft]``.

No Kafka here: the worker feeds records in and sends the drafts. Formulas: docs/plan.md.
"""

from baton.plan.config import Plans, PlanSettings
from baton.plan.evaluate import PlanStatus, evaluate
from baton.plan.rep_tracker import RepTracker
from baton.plan.reps import RepDiagnosis, diagnose_reps
from baton.plan.risk_tracker import RiskTracker

__all__ = ["PlanSettings", "Plans", "PlanStatus", "evaluate", "RiskTracker", "RepDiagnosis", "diagnose_reps",
           "RepTracker"]
