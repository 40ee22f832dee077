"""Plan pacing: revenue-at-risk and rep diagnosis, judged on every tick.

Pace falls as time passes even when no event arrives, so plans are judged on
a timer (``plan_check_seconds``) from the combined scorecard, not per event.
The trackers that make a notification fire once per change of state are
kept in the internal compacted ``plan-state`` topic: read back at start,
written after each change, so a restart does not repeat a notification.
Judging waits until the scorecard has been recovered and republished: an
empty scorecard right after a restart would look like a collapse.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import orjson

from baton.offline.topic_reader import read_to_end
from baton.plan import RepTracker, RiskTracker, diagnose_reps, evaluate
from baton.rules.drafts import Draft

if TYPE_CHECKING:
    from baton.streams.app import BatonApp

log = logging.getLogger(__name__)


def register(baton: "BatonApp") -> None:
    app, settings = baton.faust, baton.settings
    plans = list(settings.plans)
    if not plans:
        return
    state_topic = baton.names.name("plan-state")
    trackers: dict[str, object] = {}

    @app.task
    async def load_trackers() -> None:
        docs: dict[str, dict] = {}
        async for batch in read_to_end(settings.bootstrap_servers, [state_topic]):
            for rec in batch:
                if rec.key and rec.value:
                    docs[rec.key.decode()] = orjson.loads(rec.value)
        trackers["risk"] = RiskTracker.from_dict(docs.get("risk"))
        trackers["reps"] = RepTracker.from_dict(docs.get("reps"))
        log.info("plan trackers loaded (%d plans configured)", len(plans))

    async def save(name: str) -> None:
        await app.topic(state_topic, key_serializer="raw", value_serializer="raw").send(
            key=name.encode(), value=orjson.dumps(trackers[name].to_dict()))

    async def notify(draft: Draft) -> None:
        note = baton.notification(draft)
        if note is None:
            return  # the rule is switched off
        # Aggregate alerts have no account: keyed by rule id (contract).
        await baton.notifications.send(key=draft.rule.encode(), value=orjson.dumps(note.model_dump(mode="json")))
        baton.metrics.notifications += 1

    def judge(now: datetime) -> list[tuple[object, dict]]:
        """Every plan's status (kept for the dashboard) and its reps' diagnoses."""
        judged = []
        for plan in plans:
            status = evaluate(plan, baton.scorecards.get(plan.period), now)
            prefix = f"{plan.period}/"
            rep_records = {scope[len(prefix):]: record for scope, record in baton.scorecards.items()
                           if scope.startswith(prefix + "rep:")}
            diagnoses = diagnose_reps(plan, rep_records, now)
            baton.plan_statuses[plan.key] = {**status.to_dict(),
                                             "reps": {rep: d.to_dict() for rep, d in diagnoses.items()}}
            judged.append((status, diagnoses))
        return judged

    # Every worker judges (each has the whole scorecard: scorecard_view), so any worker's
    # dashboard shows the plans; only the group leader notifies, or two would notify twice.
    @app.timer(interval=settings.plan_check_seconds, name="plan-check")
    async def check_plans() -> None:
        if not baton.scorecards_ready:
            return
        judged = judge(datetime.now(timezone.utc))
        if len(trackers) < 2 or not app.is_leader():
            return
        risk: RiskTracker = trackers["risk"]  # type: ignore[assignment]
        reps: RepTracker = trackers["reps"]  # type: ignore[assignment]
        risk_changed = reps_changed = False
        for status, diagnoses in judged:
            draft = risk.observe(status)
            if draft is not None:
                await notify(draft)
                risk_changed = True
            for draft in reps.observe(diagnoses):
                await notify(draft)
                reps_changed = True
        if risk_changed:
            await save("risk")
        if reps_changed:
            await save("reps")
