"""A rule's decision before routing: what to say, to which teams, how loud."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from baton.streams.records import Cause, Notification


@dataclass(frozen=True)
class Draft:
    rule: str
    teams: tuple[str, ...]
    severity: str
    title: str
    text: str
    cause_id: str  # what makes the id unique: the event id, or e.g. "lead:l-1" for a timer
    cause_type: str
    account_id: str | None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def notification_id(self) -> str:
        return f"{self.rule}:{self.cause_id}"


# Router: (rule, teams, facts) -> channel strings like "slack:#sales" or "console".
Router = Callable[[str, tuple[str, ...], dict[str, Any]], list[str]]


def console_router(rule: str, teams: tuple[str, ...], facts: dict[str, Any]) -> list[str]:
    return ["console"]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_notification(draft: Draft, router: Router, created_at: str | None = None) -> Notification:
    extra = {"teams": list(draft.teams)} if len(draft.teams) > 1 else {}
    return Notification(
        id=draft.notification_id,
        rule=draft.rule,
        team=draft.teams[0],
        severity=draft.severity,  # type: ignore[arg-type]
        account_id=draft.account_id,
        title=draft.title,
        text=draft.text,
        channels=router(draft.rule, draft.teams, draft.facts),
        cause=Cause(event_id=draft.cause_id, type=draft.cause_type),
        created_at=created_at or now_iso(),
        facts=draft.facts,
        **extra,
    )
