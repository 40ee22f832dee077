"""Checks that fall due later: lead follow-up windows and missing payments.

Nothing about a pending check is stored except the account history itself:
the due times are derived from it (lead created + window, deal won + days).
Each worker keeps the due checks of its own accounts in a heap, rebuilt from
the account table after every recovery, so a window that closed while the
worker was down is checked right after it starts again. When a check falls
due the worker sends a due record to the internal ``timers`` topic, in the
account's partition; the intake agent handles it like any event, and records
the check as fired in the account's history, so it fires once.
"""

from __future__ import annotations

import heapq
from typing import Callable, Iterator

from baton.funnel.fold import AccountState
from baton.funnel.history import AccountHistory
from baton.rules.timer_rules import LEAD_SLA, PAYMENT_MISSING, Due, lead_deadline, payment_deadline


def open_checks(state: AccountState, history: AccountHistory, sla_seconds: Callable[[str], int],
                payment_missing_days: float) -> Iterator[Due]:
    """Checks of this account that have not fired and may still fire."""
    for lead_id, lead in state.leads.items():
        deadline = lead_deadline(state, lead_id, sla_seconds)
        if deadline is None or f"{LEAD_SLA}:{lead_id}" in history.fired:
            continue
        if lead.contacted_at is not None and lead.contacted_at <= deadline:
            continue
        if lead.disqualified_at is not None and lead.disqualified_at <= deadline:
            continue
        yield Due(deadline, state.account_id, LEAD_SLA, lead_id)
    for deal_id, deal in state.deals.items():
        deadline = payment_deadline(state, deal_id, payment_missing_days)
        if deadline is None or f"{PAYMENT_MISSING}:{deal_id}" in history.fired:
            continue
        if any(p.status == "succeeded" and p.at >= (deal.won_at or 0) for p in state.payments):
            continue
        yield Due(deadline, state.account_id, PAYMENT_MISSING, deal_id)


class DueQueue:
    """Due checks in time order; one entry per (account, check, ref)."""

    def __init__(self) -> None:
        self._heap: list[Due] = []
        self._queued: set[tuple[str, str, str]] = set()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, due: Due) -> None:
        ident = (due.account_id, due.check, due.ref)
        if ident not in self._queued:
            self._queued.add(ident)
            heapq.heappush(self._heap, due)

    def pop_due(self, now_ms: int) -> list[Due]:
        out = []
        while self._heap and self._heap[0].due_ms <= now_ms:
            due = heapq.heappop(self._heap)
            self._queued.discard((due.account_id, due.check, due.ref))
            out.append(due)
        return out

    def next_due_ms(self) -> int | None:
        return self._heap[0].due_ms if self._heap else None
