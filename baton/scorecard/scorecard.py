"""The scorecard accumulator (live, incremental) and ``replay`` (offline, all at once).

Both sum the same per-account contributions, so the live scorecard equals a
replay of the same events whatever order they arrived in.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from baton.funnel.fold import AccountState, fold
from baton.funnel.history import AccountHistory, Compact, compact
from baton.scorecard.contribution import (
    DEFAULT_SLA_SECONDS,
    NO_FACTS,
    Contributor,
    Scopes,
    account_facts,
    add_account,
    add_spend,
)
from baton.scorecard.entity_facts import AccountFacts, apply_changes, build
from baton.scorecard.partial import FactKey, Partial
from baton.streams.events import Event


def as_compact(ev: Event | Compact) -> Compact:
    return ev if isinstance(ev, dict) else compact(ev)


class Scorecard:
    """Live scope -> Partial totals, updated by account-state changes and spend records.

    One Scorecard per worker (or per partition): totals over several of them
    are ``combine([sc.partials for sc in ...])``.
    """

    def __init__(self, sla_seconds: Mapping[str, int] = DEFAULT_SLA_SECONDS) -> None:
        self.partials: dict[str, Partial] = {}
        self._spend_ids: set[str] = set()
        self.sla_seconds = sla_seconds
        # What changed since take_changes() last ran: the scopes, and the counts as
        # (scopes, key) or (scope, key), expanded per scope only when taken.
        self._touched: set[str] = set()
        self._changed: set[tuple[Scopes | str, FactKey]] = set()

    def take_changes(self) -> dict[str, set[FactKey]]:
        """The scopes changed since the last call -> the count keys that changed in each.

        A scope may map to no keys (only its latest instant moved); a scope that became
        empty is in it too (it is no longer in ``partials``). The record starts afresh.
        """
        touched, changed = self._touched, self._changed
        self._touched, self._changed = set(), set()
        keys: dict[str, set[FactKey]] = {scope: set() for scope in touched}
        for where, key in changed:
            for scope in (where,) if where.__class__ is str else where:
                keys[scope].add(key)
        return keys

    def apply_account(self, old_state: AccountState | None, new_state: AccountState) -> set[str]:
        """Replace the account's old contribution with its new one; returns the scopes that changed.
        (For a caller that kept no facts, such as the rebuild after recovery: each state's facts
        are counted whole, which ``Contributor`` does faster than ``AccountFacts``.)"""
        old = account_facts(old_state, self.sla_seconds) if old_state is not None else NO_FACTS
        touched: set[str] = set()
        Contributor.delta(old, account_facts(new_state, self.sla_seconds), self.partials, touched, self._changed)
        return self._drop_empty(touched)

    def facts(self, state: AccountState) -> AccountFacts:
        """The account's scorecard facts under this scorecard's follow-up windows, counted from
        scratch: what ``recount`` takes as the facts last counted."""
        return AccountFacts.of(state, self.sla_seconds)

    def recount(self, counted: AccountFacts | None, state: AccountState) -> AccountFacts:
        """Replace the account's facts last counted (None: a new account) with ``state``'s, and
        return those: ``counted`` itself, updated (keep no other reference to it). What the event
        did not change is reused, not recounted (entity_facts.py): an event costs what it changed."""
        new, changes, once_moves, latest_moves = build(state, self.sla_seconds, counted)
        touched: set[str] = set()
        apply_changes(changes, once_moves, latest_moves, self.partials, touched, self._changed)
        self._drop_empty(touched)
        return new

    def _drop_empty(self, touched: set[str]) -> set[str]:
        partials = self.partials
        for scope in touched:
            if partials[scope].is_empty():
                del partials[scope]  # nothing counts here any more
        self._touched |= touched
        return touched

    def apply_spend(self, ev: Event | Compact) -> set[str]:
        """Count one ``spend.recorded``; a spend id seen before changes nothing. Returns the changed scopes."""
        ev = as_compact(ev)
        if ev["id"] in self._spend_ids:
            return set()
        self._spend_ids.add(ev["id"])
        delta: dict[str, Partial] = {}
        add_spend(ev, delta)
        return self._merge(delta)

    def _merge(self, delta: Mapping[str, Partial]) -> set[str]:
        changed = set()
        for scope, part in delta.items():
            if part.is_empty():
                continue  # the account's contribution to this scope did not change
            changed.add(scope)
            self._changed.update((scope, key) for key in part.counts)
            total = self.partials.get(scope)
            if total is None:
                self.partials[scope] = part.copy()
            elif total.merge(part).is_empty():
                del self.partials[scope]  # nothing counts here any more
        self._touched |= changed
        return changed

    def record(self, scope: str) -> dict[str, Any] | None:
        part = self.partials.get(scope)
        return None if part is None else part.finalize(scope)

    def records(self) -> dict[str, dict[str, Any]]:
        return finalize_all(self.partials)


def combine(partial_maps: Iterable[Mapping[str, Partial]]) -> dict[str, Partial]:
    """Sum several scope -> Partial maps (e.g. one per partition) into one; empty scopes dropped."""
    total: dict[str, Partial] = {}
    for partials in partial_maps:
        for scope, part in partials.items():
            if scope in total:
                total[scope].merge(part)
            else:
                total[scope] = part.copy()
    return {scope: part for scope, part in total.items() if not part.is_empty()}


def finalize_all(partials: Mapping[str, Partial]) -> dict[str, dict[str, Any]]:
    return {scope: partials[scope].finalize(scope) for scope in sorted(partials) if not partials[scope].is_empty()}


def replay(events: Iterable[Event | Compact],
           sla_seconds: Mapping[str, int] = DEFAULT_SLA_SECONDS) -> dict[str, dict[str, Any]]:
    """The scorecard of a set of events, computed offline: scope -> record.

    Duplicate ids count once (the first seen is kept). Events are grouped by
    account, each account's distinct events are folded once, and the
    contributions are summed in place: one sort per account, otherwise linear.
    """
    acc = Replay()
    add = acc.add
    for raw in events:
        add(as_compact(raw))
    return acc.records(sla_seconds)


class Replay:
    """``replay()`` fed one compact event at a time (``baton replay`` adds them as it reads)."""

    __slots__ = ("accounts", "spends")

    def __init__(self) -> None:
        self.accounts: dict[str, dict[str, Compact]] = {}
        self.spends: dict[str, Compact] = {}

    def add(self, ev: Compact) -> None:
        if ev["type"] == "spend.recorded":
            self.spends.setdefault(ev["id"], ev)
            return
        by_id = self.accounts.get(ev["account_id"])
        if by_id is None:
            by_id = self.accounts[ev["account_id"]] = {}
        by_id.setdefault(ev["id"], ev)

    def account_totals(self, sla_seconds: Mapping[str, int] = DEFAULT_SLA_SECONDS) -> dict[str, Partial]:
        """Every account's contribution summed per scope (spend not included)."""
        totals: dict[str, Partial] = {}
        for account_id, by_id in self.accounts.items():
            add_account(fold(AccountHistory.of_distinct(account_id, by_id)), totals, sla_seconds=sla_seconds)
        return totals

    def records(self, sla_seconds: Mapping[str, int] = DEFAULT_SLA_SECONDS) -> dict[str, dict[str, Any]]:
        totals = self.account_totals(sla_seconds)
        for ev in self.spends.values():
            add_spend(ev, totals)
        return finalize_all(totals)
