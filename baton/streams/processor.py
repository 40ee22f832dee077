"""What one valid account event does, as a pure step the agent calls.

``step(history, event)`` adds the event to the account's history and returns
the new state and the rule drafts it causes. A duplicate id changes nothing
and notifies nobody, with one exception: the *same record* seen again (same
topic, partition and offset) is a redelivery after a crash, whose
notifications may not have reached Kafka before the crash. Its drafts are
produced again; their ids are deterministic, so the delivery ledger still
sends each message once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from baton.funnel.fold import AccountState, apply_event, fold
from baton.funnel.history import AccountHistory, Compact
from baton.rules.drafts import Draft
from baton.rules.event_rules import rules_for


@dataclass
class StepResult:
    state: AccountState
    changed: bool
    duplicate: bool = False
    redelivered: bool = False
    drafts: list[Draft] = field(default_factory=list)
    previous: AccountState | None = None


def source_of(topic: str, partition: int, offset: int) -> tuple[str, int, int]:
    """Where a record was read: ``(topic, partition, offset)``, stored as the event's ``src``.

    A tuple, not a list: a tuple of atoms leaves the cyclic GC's lists at the first collection
    it survives, a list never does, and histories hold one per event for as long as they live.
    """
    return (topic, partition, offset)


def same_record(a: Sequence[Any] | None, b: Sequence[Any] | None) -> bool:
    """Two ``src`` values name the same record (one may be a list read back from JSON)."""
    return a is not None and b is not None and tuple(a) == tuple(b)


def step(history: AccountHistory, ev: Compact, sla_seconds: Callable[[str], int],
         current: AccountState | None = None) -> StepResult:
    """``current``: ``fold(history)`` when the caller already has it. An event that sorts after
    every event of the history (the usual case) is then applied to ``current`` in place: the
    caller's state object becomes the new state and ``previous`` is None. Otherwise the
    history is folded again and ``previous`` is the state before the event."""
    seen = history.get(ev["id"])
    if seen is not None:
        state = current if current is not None else fold(history)
        redelivered = same_record(seen.get("src"), ev.get("src"))
        drafts = _drafts(ev, state, sla_seconds) if redelivered else []
        return StepResult(state, changed=False, duplicate=not redelivered, redelivered=redelivered, drafts=drafts)
    if current is not None and history.sorts_last(ev):
        # fold(history + [ev]) == apply_event(fold(history), ev) when ev sorts last: no re-fold.
        history.add(ev)
        apply_event(current, ev)
        return StepResult(current, changed=True, drafts=_drafts(ev, current, sla_seconds))
    previous = None
    if history.events:
        previous = current if current is not None else fold(history)
    history.add(ev)
    state = fold(history)
    return StepResult(state, changed=True, drafts=_drafts(ev, state, sla_seconds), previous=previous)


def _drafts(ev: Compact, state: AccountState, sla_seconds: Callable[[str], int]) -> list[Draft]:
    drafts = []
    for rule in rules_for(ev["type"], sla_seconds):
        draft = rule(ev, state)
        if draft is not None:
            drafts.append(draft)
    return drafts
