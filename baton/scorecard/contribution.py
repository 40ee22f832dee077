"""What one account (or one spend record) contributes to each scorecard scope.

An account's contribution is a pure function of its folded state, so the live
worker can subtract the contribution of the account's previous state and add
the new one. Attribution rules (which scope a fact counts in) are listed in
docs/scorecard.md; in short:

- time scopes use the instant of the event the fact counts (a lead: its
  ``lead.created``; a won deal: its ``deal.won``; pipeline: ``deal.created``);
- ``rep:`` is the lead's owner, the deal's owner, a payment's deal's owner
  (else the account's owner), the account's owner for churn;
- ``campaign:`` is the account's first-touch campaign, for everything;
- ``source:`` is the lead's source, the deal's source (contract rule), a
  payment's deal's source (else the account's), the account's source for churn.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from baton.funnel.fold import AccountState, Deal, Lead, Payment
from baton.scorecard.partial import FactKey, Partial
from baton.scorecard.periods import periods_of_instant, periods_of_month

Scopes = tuple[str, ...]


def _tag(kind: str, value: str | None) -> str | None:
    return f"{kind}:{value}" if value else None


# (periods, tags) -> scopes: the same few combinations recur account after account.
# Bounded: emptied when full (the next calls rebuild what they need).
_SCOPES_CACHE: dict[tuple[tuple[str, str], tuple[str | None, ...]], Scopes] = {}
_SCOPES_CACHE_MAX = 100_000


def _scopes(t: int, *tags: str | None) -> Scopes:
    """``all``, the month and quarter of instant ``t``, the tags that apply, and each
    rep's own month and quarter (``2026-11/rep:r-7``: what plans judge reps by)."""
    periods = periods_of_instant(t)
    cache_key = (periods, tags)
    scopes = _SCOPES_CACHE.get(cache_key)
    if scopes is not None:
        return scopes
    out = ["all", *periods]
    for tag in tags:
        if tag:
            out.append(tag)
            if tag.startswith("rep:"):
                out.extend(f"{period}/{tag}" for period in periods)
    if len(_SCOPES_CACHE) >= _SCOPES_CACHE_MAX:
        _SCOPES_CACHE.clear()
    scopes = _SCOPES_CACHE[cache_key] = tuple(out)
    return scopes


# Fact keys recur account after account. One shared tuple per key keeps the cached facts
# of thousands of accounts from each holding tuples of their own, which the next young
# garbage collection would have to walk: ~20 of an account's ~24 new containers were
# such tuples, and the collections' pauses were the worker's longest stalls
# (docs/benchmarks-latency-scale.md, round 9). Bounded like _SCOPES_CACHE.
_SHARED: dict[tuple[Any, ...], tuple[Any, ...]] = {}
_SHARED_MAX = 200_000


def _share(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """Make ``key`` the one tuple equal to it that facts keep. Callers try
    ``_SHARED.get(key) or _share(key)``: the common case without a Python call."""
    if len(_SHARED) >= _SHARED_MAX:
        _SHARED.clear()
    _SHARED[key] = key
    return key


def _spread(into: dict[str, Partial], scopes: Scopes, key: FactKey, amount: int) -> None:
    """``into[scope] += {key: amount}`` for every scope of ``scopes``, with ``Partial.add`` inlined:
    the hot loop of the replay and of the live scorecard. Each scope's Partial exists afterwards,
    even for an amount of 0. (Counted keys are never ``latest`` facts: no maximum to keep.)"""
    for scope in scopes:
        part = into.get(scope)
        if part is None:
            part = into[scope] = Partial()
        if amount:
            counts = part.counts
            value = counts.get(key, 0) + amount
            if value:
                counts[key] = value
            else:
                del counts[key]


class Contributor:
    """One contributor's facts (an account's, a spend record's), before they are spread over scopes.

    - ``counted``: ``(scopes, key) -> amount``, summed: each fact counts in every scope of its tuple;
    - ``once``: "how many accounts" facts, counted once per scope however many events qualify;
    - ``latest``: the latest counted instant per scopes tuple (per scope: the max over its tuples);
    - ``stage``: the account's current stage in its time-less scopes.

    ``add_to(into, sign)`` spreads them into ``into`` (scope -> Partial); ``delta(old, new)``
    spreads only what differs between two contributors of the same account, which is what
    the live scorecard needs per event and much less work than spreading both.
    """

    __slots__ = ("counted", "once", "latest", "stage", "_once_by_scope", "_latest_by_scope")

    def __init__(self) -> None:
        self.counted: dict[tuple[Scopes, FactKey], int] = {}
        self.once: set[tuple[Scopes, FactKey]] = set()
        self.latest: dict[Scopes, int] = {}
        self.stage: set[tuple[str, FactKey]] = set()
        # The per-scope views, computed once: the live intake asks for the same contributor's
        # twice (as the new facts of one event, then as the old facts of the account's next).
        self._once_by_scope: set[tuple[str, FactKey]] | None = None
        self._latest_by_scope: dict[str, int] | None = None

    def count(self, scopes: Scopes, key: FactKey, amount: int, t: int) -> None:
        k = (scopes, key)
        counted, k = self.counted, _SHARED.get(k) or _share(k)
        counted[k] = counted.get(k, 0) + amount
        latest = self.latest
        if latest.get(scopes, t - 1) < t:
            latest[scopes] = t
            self._latest_by_scope = None

    def count_once(self, scopes: Scopes, key: FactKey, t: int) -> None:
        k = (scopes, key)
        self.once.add(_SHARED.get(k) or _share(k))
        self._once_by_scope = None
        latest = self.latest
        if latest.get(scopes, t - 1) < t:
            latest[scopes] = t
            self._latest_by_scope = None

    # --- per scope (read only: callers must not change the returned values) -----------------
    def once_by_scope(self) -> set[tuple[str, FactKey]]:
        if self._once_by_scope is None:
            pairs = ((scope, key) for scopes, key in self.once for scope in scopes)
            self._once_by_scope = {_SHARED.get(k) or _share(k) for k in pairs}
        return self._once_by_scope

    def latest_by_scope(self) -> dict[str, int]:
        if self._latest_by_scope is None:
            latest: dict[str, int] = {}
            for scopes, t in self.latest.items():
                for scope in scopes:
                    if latest.get(scope, t - 1) < t:
                        latest[scope] = t
            self._latest_by_scope = latest
        return self._latest_by_scope

    def add_to(self, into: dict[str, Partial], sign: int = 1) -> None:
        """``into += sign x`` everything this contributor counts."""
        for (scopes, key), amount in self.counted.items():
            _spread(into, scopes, key, amount * sign)
        for facts in (self.once_by_scope(), self.stage):
            for scope, key in facts:
                part = into.get(scope)
                if part is None:
                    part = into[scope] = Partial()
                counts = part.counts
                value = counts.get(key, 0) + sign
                if value:
                    counts[key] = value
                else:
                    del counts[key]
        for scope, t in self.latest_by_scope().items():
            part = into.get(scope)
            if part is None:
                part = into[scope] = Partial()
            part.add_latest(t, sign)

    @staticmethod
    def delta(old: "Contributor", new: "Contributor", into: dict[str, Partial], touched: set[str],
              changed: set[tuple[Scopes | str, FactKey]] | None = None) -> None:
        """``into += new - old``, touching only the facts that differ; their scopes go in ``touched``.

        Equal to ``new.add_to(into); old.add_to(into, -1)`` once zeros are dropped:
        sums do not depend on the order their terms are added in. ``into`` may be the
        live totals themselves (a Partial that becomes empty stays; the caller drops it).
        ``changed``, if given, collects which counts changed, as ``(scopes, key)`` or
        ``(scope, key)``: what the live worker publishes as a patch (``Scorecard.take_changes``).
        """
        if changed is None:
            changed = set()  # collected for nobody: cheaper than a test per fact
        def put(scope: str, key: FactKey, amount: int) -> None:  # amount != 0
            part = into.get(scope)
            if part is None:
                part = into[scope] = Partial()
            counts = part.counts  # Partial.add, inlined
            value = counts.get(key, 0) + amount
            if value:
                counts[key] = value
            else:
                del counts[key]
            touched.add(scope)
            changed.add((scope, key))

        def put_latest(scope: str, t: int, amount: int) -> None:
            part = into.get(scope)
            if part is None:
                part = into[scope] = Partial()
            part.add_latest(t, amount)
            touched.add(scope)

        # put() and _spread() inline Partial.add: the live intake's hot loop (~20 scope
        # updates per event; calling Partial.add cost 5-6 µs more per event).
        spread_difference(old.counted, new.counted, into, touched, changed)
        if old.once != new.once:
            old_once, new_once = old.once_by_scope(), new.once_by_scope()
            for scope, key in new_once - old_once:
                put(scope, key, 1)
            for scope, key in old_once - new_once:
                put(scope, key, -1)
        if old.latest != new.latest:
            old_latest, new_latest = old.latest_by_scope(), new.latest_by_scope()
            for scope, t in new_latest.items():
                before = old_latest.get(scope)
                if before != t:
                    put_latest(scope, t, 1)
                    if before is not None:
                        put_latest(scope, before, -1)
            for scope, t in old_latest.items():
                if scope not in new_latest:
                    put_latest(scope, t, -1)
        if old.stage != new.stage:
            for scope, key in new.stage - old.stage:
                put(scope, key, 1)
            for scope, key in old.stage - new.stage:
                put(scope, key, -1)


def spread_difference(old_counted: dict[tuple[Scopes, FactKey], int], new_counted: dict[tuple[Scopes, FactKey], int],
                      into: dict[str, Partial], touched: set[str], changed: set) -> None:
    """``into += new_counted - old_counted`` (counted facts, ``(scopes, key) -> amount``), touching
    only the keys that differ; their scopes go in ``touched``, the keys in ``changed``."""
    for k, amount in new_counted.items():
        diff = amount - old_counted.get(k, 0)
        if diff:
            _spread(into, k[0], k[1], diff)
            touched.update(k[0])
            changed.add(k)
    for k, amount in old_counted.items():
        if amount and k not in new_counted:
            _spread(into, k[0], k[1], -amount)
            touched.update(k[0])
            changed.add(k)


NO_FACTS = Contributor()  # an account before its first event (never mutated)


# The contract's follow-up windows, in seconds; the worker and the replay pass the configured ones.
DEFAULT_SLA_SECONDS = {"hot": 300, "warm": 3600, "cold": 86400}


def account_contribution(state: AccountState, sla_seconds: Mapping[str, int] = DEFAULT_SLA_SECONDS) -> dict[str, Partial]:
    """Everything one account contributes, per scope."""
    into: dict[str, Partial] = {}
    add_account(state, into, sla_seconds=sla_seconds)
    return into


def spend_contribution(ev: dict[str, Any]) -> dict[str, Partial]:
    """What one ``spend.recorded`` (compact form) contributes, per scope."""
    into: dict[str, Partial] = {}
    add_spend(ev, into)
    return into


def add_account(state: AccountState, into: dict[str, Partial], sign: int = 1,
                sla_seconds: Mapping[str, int] = DEFAULT_SLA_SECONDS) -> None:
    """Add ``sign`` x the account's contribution to ``into`` in place (replay sums all accounts this way)."""
    account_facts(state, sla_seconds).add_to(into, sign)


def account_facts(state: AccountState, sla_seconds: Mapping[str, int] = DEFAULT_SLA_SECONDS) -> Contributor:
    """The account's facts, each with the scopes it counts in."""
    c = Contributor()
    campaign_id = state.first_touch_campaign_id
    campaign = _tag("campaign", campaign_id)
    _add_leads(c, state, campaign, sla_seconds)
    for deal in state.deals.values():
        _add_deal(c, state, deal, campaign, campaign_id)
    _add_payments(c, state, campaign)
    account_rep, account_source = _tag("rep", state.owner_id), _tag("source", state.source or "unknown")
    add_churn(c, state.cancellations, account_rep, campaign, account_source)
    # The account's current stage: a snapshot with no period, so only in time-less scopes,
    # and without touching as_of (it is not an event being counted).
    stage = ("stage", state.stage)
    pairs = ((scope, stage) for scope in stage_scopes(account_rep, campaign, account_source))
    c.stage = {_SHARED.get(k) or _share(k) for k in pairs}
    return c


def stage_scopes(rep: str | None, campaign: str | None, source: str | None) -> Scopes:
    """The time-less scopes an account's current stage counts in."""
    return tuple(scope for scope in ("all", rep, campaign, source) if scope)


def add_churn(c: Contributor, cancellations: list[int], rep: str | None, campaign: str | None,
              source: str | None) -> None:
    """Each ``subscription.cancelled`` of the account: a churned and an active customer in its period."""
    for t in cancellations:
        scopes = _scopes(t, rep, campaign, source)
        c.count_once(scopes, ("churned_customers",), t)
        c.count_once(scopes, ("active_customers",), t)


def response_bucket(ms: int) -> int:
    """A first-response time kept to three significant figures (half up): 1,234,567 ms -> 1,230,000.

    The multiset of response times would otherwise hold a key per distinct millisecond,
    which in an all-time scope grows with every lead and soon outgrows a Kafka record;
    three figures bound it to 900 keys per decade, each value at most 0.5 % off.
    """
    if ms < 1000:
        return ms
    scale = 10 ** (len(str(ms)) - 3)
    return (ms + scale // 2) // scale * scale


def _add_leads(c: Contributor, state: AccountState, campaign: str | None, sla_seconds: Mapping[str, int]) -> None:
    for lead in state.leads.values():
        _add_lead(c, lead, campaign, sla_seconds)


def _add_lead(c: Contributor, lead: Lead, campaign: str | None, sla_seconds: Mapping[str, int]) -> None:
    if lead.created_at is None:
        return  # only assigned/contacted so far: not a created lead (yet)
    source = _tag("source", lead.source or "unknown")
    c.count(_scopes(lead.created_at, _tag("rep", lead.owner_id), campaign, source), ("leads",), 1, lead.created_at)
    if lead.contacted_at is not None:
        # Clamped at 0: a contact stamped before the lead's creation is clock skew, not a negative wait.
        wait_ms = max(0, lead.contacted_at - lead.created_at)
        responder = _tag("rep", lead.contacted_by or lead.owner_id)
        contact_scopes = _scopes(lead.contacted_at, responder, campaign, source)
        c.count(contact_scopes, ("response_ms", response_bucket(wait_ms)), 1, lead.contacted_at)
        window = sla_seconds.get(lead.temperature or "", 0)
        if window and wait_ms <= window * 1000:
            c.count(contact_scopes, ("responses_within_sla",), 1, lead.contacted_at)


def _add_deal(c: Contributor, state: AccountState, deal: Deal, campaign: str | None, campaign_id: str | None) -> None:
    rep, source_name = _tag("rep", deal.owner_id), state.deal_source(deal)
    source = _tag("source", source_name)
    if deal.created_at is not None and deal.currency is not None:
        scopes, t = _scopes(deal.created_at, rep, campaign, source), deal.created_at
        c.count(scopes, ("opportunities",), 1, t)
        if deal.is_open:
            amount = deal.amount or 0
            c.count(scopes, ("pipeline", deal.currency), amount, t)
            c.count(scopes, ("sourced_pipeline", source_name, deal.currency), amount, t)
    if deal.won_at is not None and deal.won_currency is not None:
        scopes, t = _scopes(deal.won_at, rep, campaign, source), deal.won_at
        amount, currency = deal.won_amount or 0, deal.won_currency
        c.count(scopes, ("deals_won",), 1, t)
        c.count(scopes, ("bookings", currency), amount, t)
        c.count(scopes, ("sourced_revenue", source_name, currency), amount, t)
        if campaign_id:
            c.count(scopes, ("campaign_revenue", campaign_id, currency), amount, t)
        if deal.created_at is not None:
            # Clamped at 0 like response times: a deal cannot be won before it exists.
            c.count(scopes, ("cycle_ms",), max(0, deal.won_at - deal.created_at), t)
            c.count(scopes, ("cycle_deals",), 1, t)
    elif deal.lost_at is not None:
        c.count(_scopes(deal.lost_at, rep, campaign, source), ("deals_lost",), 1, deal.lost_at)


def _add_payments(c: Contributor, state: AccountState, campaign: str | None) -> None:
    for p, rep, source, first in payment_attribution(state):
        add_payment(c, p, rep, source, first, campaign)


def payment_attribution(state: AccountState, start: int = 0,
                        paid_before: bool = False) -> Iterator[tuple[Payment, str | None, str | None, bool]]:
    """Each payment of the account from position ``start`` (in ``(occurred_at, id)`` order) with
    what it counts under: its rep (the deal's owner, else the account's), its source (the deal's,
    else the account's) and whether it is the account's first ``payment.succeeded``
    (``paid_before``: one came before ``start``). A failed payment counts nothing: (None, None, False)."""
    payments, deals = state.payments, state.deals
    deal_of_payment: dict[str, str | None] | None = None
    account_source: str | None = None
    first = not paid_before
    for i in range(start, len(payments)):
        p = payments[i]
        if p.status == "failed":
            yield p, None, None, False
            continue
        deal_id = p.deal_id
        if not deal_id:  # a refund names only its payment: find the deal through the payment it refunds
            if deal_of_payment is None:
                deal_of_payment = {q.payment_id: q.deal_id for q in payments if q.status == "succeeded" and q.deal_id}
            deal_id = deal_of_payment.get(p.payment_id)
        deal = deals.get(deal_id) if deal_id else None
        if deal is not None:
            rep, source = deal.owner_id or state.owner_id, state.deal_source(deal)
        else:
            if account_source is None:
                account_source = state.source or "unknown"
            rep, source = state.owner_id, account_source
        is_first = first and p.status == "succeeded"
        if is_first:
            first = False
        yield p, rep, source, is_first


def add_payment(c: Contributor, p: Payment, rep: str | None, source: str | None, first: bool,
                campaign: str | None) -> None:
    """One payment's facts; ``first``: the account's first ``payment.succeeded`` ever (a new customer)."""
    if p.status == "failed":
        return
    scopes = _scopes(p.at, _tag("rep", rep), campaign, _tag("source", source))
    if p.status == "refunded":
        c.count(scopes, ("refunds", p.currency), p.amount, p.at)
        return
    c.count(scopes, ("cash_collected", p.currency), p.amount, p.at)
    c.count_once(scopes, ("paying_customers", p.currency), p.at)
    c.count_once(scopes, ("active_customers",), p.at)
    if first:
        c.count_once(scopes, ("new_customers",), p.at)


def add_spend(ev: dict[str, Any], into: dict[str, Partial], sign: int = 1) -> None:
    """Add ``sign`` x one spend record's contribution to ``into`` in place."""
    d, t = ev["data"], ev["t"]
    month, quarter = periods_of_month(d["period"]) if d.get("period") else periods_of_instant(t)
    campaign_id = d.get("campaign_id")
    scopes = tuple(s for s in ("all", month, quarter, _tag("source", d["team"]), _tag("campaign", campaign_id)) if s)
    c = Contributor()
    c.count(scopes, ("spend", d["team"], d["currency"]), d["amount"], t)
    c.count(scopes, ("spend_split", "paid" if campaign_id else "team", d["currency"]), d["amount"], t)
    c.add_to(into, sign)
