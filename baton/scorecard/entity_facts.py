"""An account's scorecard facts kept per lead, deal and payment: what the live worker recounts.

The replay counts each account once (``contribution.account_facts``). The live
worker recounts an account after every event, and recounting it whole cost
grows with its history: the facts of every lead, deal and payment, and the
account-wide views (which "how many accounts" facts hold in each scope, the
latest counted instant per scope), rebuilt and compared on every event. An
account with a year of payments paid for all of them on each new one.

``AccountFacts`` keeps each item's facts as a *piece*, with the inputs they
were computed from (its *signature*). ``Scorecard.recount`` updates the facts
last counted to the account's new state (``build(state, sla, previous)``, in
place): every piece whose inputs did not change stays, the account-wide views
are updated from the pieces that did, and only those changes reach the
totals. An event costs the items it changed, plus one signature per lead and
deal (attributes read in C); payments are only ever appended, so those
counted before are skipped while what they are attributed through stays the
same. (Measured in docs/benchmarks-latency-scale.md, round 10.)

The facts themselves come from the functions the replay uses
(``contribution._add_lead``, ``_add_deal``, ``add_payment``), so both count the
same; ``tests/test_scorecard_properties.py`` checks the live scorecard against
the replay, and the incremental facts against facts built from scratch.

Few new objects per event, and small ones (the young GC walks what each event
leaves behind, and the account cache keeps thousands of accounts' facts;
docs/benchmarks-latency-scale.md, rounds 9 and 11): the facts are updated in
place, a piece packs what the ``Contributor`` that counted it found into
tuples, and what changed is applied, not kept.
"""

from __future__ import annotations

from itertools import chain
from operator import attrgetter
from typing import Any, Callable, Iterator, Mapping

from baton.funnel.fold import AccountState, Payment
from baton.scorecard.contribution import (
    _SHARED,
    Contributor,
    Scopes,
    _add_deal,
    _add_lead,
    _share,
    _spread,
    _tag,
    add_churn,
    add_payment,
    payment_attribution,
    spread_difference,
    stage_scopes,
)
from baton.scorecard.partial import FactKey, Partial

# A piece: (signature, counted, once, latest), never changed once built (replaced whole).
#   counted: flat pairs (k1, amount1, k2, amount2, ...), k = (scopes, key), summed over pieces;
#   once: the (scope, key) pairs of its "how many accounts" facts (each counts once per account);
#   latest: flat pairs (scopes1, t1, ...): the latest instant it counted in each scopes tuple
#     (one or two tuples a piece; a scope's latest is the max over the tuples it is in).
# Tuples, not dicts and sets: an account keeps ~15 pieces, a dict or set costs ~230 bytes
# however few entries it holds, and tuples of shared atoms leave the cyclic GC's lists.
Flat = tuple[Any, ...]
Piece = tuple[Any, Flat, "tuple[tuple[str, FactKey], ...]", Flat]
Change = tuple["Piece | None", "Piece | None"]  # (before, after); None: no such item
OnceMove = tuple[tuple[str, FactKey], int]  # (scope, key), +1 gained or -1 lost
LatestMove = tuple[str, "int | None", "int | None"]  # scope, the account's latest instant before, after

_NO_COUNTS: dict = {}  # never changed
_NO_IDS: frozenset = frozenset()

# Everything of a lead or deal its facts depend on, read in C. The account's campaign is
# compared once per account (a new one recounts everything), a deal's source apart.
_LEAD_INPUTS = attrgetter("created_at", "source", "owner_id", "contacted_at", "contacted_by", "temperature")
_DEAL_INPUTS = attrgetter("created_at", "amount", "currency", "owner_id", "won_at", "won_amount",
                          "won_currency", "lost_at")


def _piece(signature: Any, add: Callable[..., None], *args: Any) -> Piece:
    c = Contributor()
    add(c, *args)
    if not c.counted and not c.once:
        return (signature, (), (), ())
    return (signature, _flat(c.counted), tuple(c.once_by_scope()) if c.once else (), _flat(c.latest))


def _flat(mapping: dict) -> Flat:
    return tuple(chain.from_iterable(mapping.items()))


def _pairs(flat: Flat) -> Iterator[tuple[Any, Any]]:
    it = iter(flat)
    return zip(it, it)


def _latest_by_scope(latest: Flat) -> Iterator[tuple[str, int]]:
    """A piece's latest instants as (scope, t); a scope in two of its scopes tuples comes twice."""
    it = iter(latest)
    for scopes, t in zip(it, it):
        for scope in scopes:
            yield scope, t


def _scopes_of(latest: Flat) -> Iterator[str]:
    for scopes in latest[::2]:
        yield from scopes


def counted_of(piece: Piece | None) -> dict[tuple[Scopes, FactKey], int]:
    """A piece's counted facts as ``(scopes, key) -> amount``."""
    return dict(_pairs(piece[1])) if piece is not None and piece[1] else _NO_COUNTS


class AccountFacts:
    """One account's scorecard facts, per item (see the module docstring).

    ``once``: (scope, key) -> how many pieces hold it (the account counts there once);
    ``latest``: scope -> the latest instant any piece counted there. ``build`` updates
    it in place to the account's next state.
    """

    __slots__ = ("sla_seconds", "campaign_id", "leads", "deals", "payments", "last_paid", "paid_before",
                 "dealless", "payment_context", "churn", "stage", "once", "latest")

    def __init__(self, sla_seconds: Mapping[str, int]) -> None:
        self.sla_seconds = sla_seconds
        self.campaign_id: str | None = None
        self.leads: dict[str, Piece] = {}
        self.deals: dict[str, Piece] = {}
        self.payments: tuple[Piece, ...] = ()
        self.last_paid: Payment | None = None  # the last payment counted (the state's own object)
        self.paid_before = False  # whether a counted payment succeeded
        self.dealless: frozenset[str] = frozenset()  # payment ids of counted payments without a deal id
        self.payment_context: Any = None  # the account's owner and source the payments were counted under
        self.churn: Piece | None = None
        self.stage: Piece | None = None
        self.once: dict[tuple[str, FactKey], int] = {}
        self.latest: dict[str, int] = {}

    def pieces(self) -> list[Piece]:
        out = [*self.leads.values(), *self.deals.values(), *self.payments]
        out.extend(p for p in (self.churn, self.stage) if p is not None)
        return out

    @classmethod
    def of(cls, state: AccountState, sla_seconds: Mapping[str, int]) -> "AccountFacts":
        """The facts of ``state``, counted from scratch."""
        return build(state, sla_seconds, None)[0]


_EMPTY = AccountFacts({})  # an account before its first event (never changed)


def build(state: AccountState, sla_seconds: Mapping[str, int], previous: AccountFacts | None
          ) -> tuple[AccountFacts, list[Change], list[OnceMove], list[LatestMove]]:
    """The facts of ``state``, and what changed since ``previous`` (the facts of the account's state
    before its last event; None: a new account): pieces, once-facts, latest instants.

    ``previous`` is updated in place and returned (the intake keeps one object per account; a
    copy per event would be garbage the young GC walks). Nothing else may hold it or its parts.
    When the campaign or the follow-up windows changed, a new object is returned instead."""
    campaign_id = state.first_touch_campaign_id
    if previous is not None and (previous.sla_seconds is not sla_seconds or previous.campaign_id != campaign_id):
        # A new campaign tag changes every fact's scopes: all of it counted afresh.
        new = build(state, sla_seconds, None)[0]
        return (new, *difference(previous, new))
    fresh = previous is None
    facts = AccountFacts(sla_seconds) if fresh else previous
    facts.campaign_id = campaign_id
    campaign = _tag("campaign", campaign_id)
    changes: list[Change] = []

    leads = facts.leads
    for lead_id, lead in state.leads.items():
        signature = _LEAD_INPUTS(lead)
        before = leads.get(lead_id)
        if before is None or before[0] != signature:
            _replace(leads, lead_id, before, _piece(signature, _add_lead, lead, campaign, sla_seconds), changes)
    _drop_gone(leads, state.leads, changes)

    deals, counted_before = facts.deals, len(changes)
    for deal_id, deal in state.deals.items():
        signature = (_DEAL_INPUTS(deal), state.deal_source(deal))
        before = deals.get(deal_id)
        if before is None or before[0] != signature:
            _replace(deals, deal_id, before, _piece(signature, _add_deal, state, deal, campaign, campaign_id), changes)
    _drop_gone(deals, state.deals, changes)
    same_deals = len(changes) == counted_before  # no deal changed, none gone

    account_rep, account_source = state.owner_id, state.source or "unknown"
    _refresh_payments(facts, state, campaign, (account_rep, account_source), same_deals, changes)
    rep_tag, source_tag = _tag("rep", account_rep), _tag("source", account_source)
    facts.churn = _refresh_one(facts.churn, (tuple(state.cancellations), account_rep, account_source), changes,
                               add_churn, state.cancellations, rep_tag, campaign, source_tag)
    stage, before = state.stage, facts.stage
    stage_signature = (stage, account_rep, account_source)
    if before is None or before[0] != stage_signature:
        facts.stage = _stage_piece(stage_signature, stage, rep_tag, campaign, source_tag)
        changes.append((before, facts.stage))

    if fresh:
        facts.once, facts.latest = _views(facts.pieces())
        return facts, changes, [(k, 1) for k in facts.once], [(scope, None, t) for scope, t in facts.latest.items()]
    return facts, changes, _updated_once(facts.once, changes), _updated_latest(facts.latest, facts, changes)


def _replace(pieces: dict[str, Piece], item_id: str, before: Piece | None, piece: Piece,
             changes: list[Change]) -> None:
    changes.append((before, piece))
    pieces[item_id] = piece


def _drop_gone(pieces: dict[str, Piece], current: Mapping[str, Any], changes: list[Change]) -> None:
    """Items gone since (only a state folded from other events loses any) take their facts with them."""
    if len(pieces) > len(current):
        for item_id in pieces.keys() - current.keys():
            changes.append((pieces.pop(item_id), None))


def _refresh_payments(facts: AccountFacts, state: AccountState, campaign: str | None,
                      account: tuple[str | None, str], same_deals: bool, changes: list[Change]) -> None:
    """The payments' pieces, by position (``state.payments`` is in ``(occurred_at, id)`` order).

    The fold only ever appends to a state's payments (an event out of order folds a new state,
    with new objects). So when the last payment counted is still in its place, and nothing the
    earlier ones are attributed through changed (the deals' owners and sources: their pieces'
    signatures; the account's owner and source; which deal a refunded payment had), only the
    payments after it are counted."""
    payments = state.payments
    old, dealless, paid_before = facts.payments, facts.dealless, facts.paid_before
    seen = len(old)
    start = 0
    if (same_deals and account == facts.payment_context and len(payments) >= seen
            and (seen == 0 or payments[seen - 1] is facts.last_paid)):
        start = seen
        if dealless and any(p.deal_id and p.payment_id in dealless for p in payments[seen:]):
            start = 0  # a deal named for a payment a refund refers to moves the refund
    if account != facts.payment_context:
        facts.payment_context = account  # (kept only when it changed: one tuple fewer per event)
    facts.last_paid = payments[-1] if payments else None
    if start == len(payments) == seen:
        return  # no payment since
    pieces = list(old[:start])
    if not start:
        paid_before, dealless = False, _NO_IDS
    for p, rep, source, first in payment_attribution(state, start, paid_before):
        i = len(pieces)
        signature = (p.payment_id, p.status, p.at, p.amount, p.currency, rep, source, first)
        paid_before = paid_before or p.status == "succeeded"
        before = old[i] if i < len(old) else None
        if before is not None and before[0] == signature:
            pieces.append(before)
            continue
        piece = _piece(signature, add_payment, p, rep, source, first, campaign)
        changes.append((before, piece))
        pieces.append(piece)
    for before in old[len(payments):]:
        changes.append((before, None))
    facts.payments = tuple(pieces)
    facts.paid_before = paid_before
    fresh = [p.payment_id for p in payments[start:] if not p.deal_id]
    facts.dealless = dealless.union(fresh) if fresh else dealless


def _refresh_one(old: Piece | None, signature: Any, changes: list[Change], add: Callable[..., None], *args: Any) -> Piece:
    if old is not None and old[0] == signature:
        return old
    piece = _piece(signature, add, *args)
    changes.append((old, piece))
    return piece


def _stage_piece(signature: Any, stage: str, rep: str | None, campaign: str | None, source: str | None) -> Piece:
    # The account's current stage: a snapshot with no period, so counted in the time-less
    # scopes only, without a latest instant (it is not an event being counted).
    k = (stage_scopes(rep, campaign, source), ("stage", stage))
    return (signature, (_SHARED.get(k) or _share(k), 1), (), ())


def _views(pieces: list[Piece]) -> tuple[dict[tuple[str, FactKey], int], dict[str, int]]:
    """The account-wide views from scratch: how many pieces hold each once-fact, the latest instant per scope."""
    once: dict[tuple[str, FactKey], int] = {}
    latest: dict[str, int] = {}
    for _, _, piece_once, piece_latest in pieces:
        for k in piece_once:
            once[k] = once.get(k, 0) + 1
        for scope, t in _latest_by_scope(piece_latest):
            if latest.get(scope, t - 1) < t:
                latest[scope] = t
    return once, latest


def _updated_once(once: dict[tuple[str, FactKey], int], changes: list[Change]) -> list[OnceMove]:
    """Update ``once`` for ``changes``; returns the facts the account gained or lost."""
    touched = {k for before, after in changes for piece in (before, after) if piece is not None for k in piece[2]}
    if not touched:
        return []
    held = {k for k in touched if k in once}
    for before, after in changes:
        if after is not None:
            for k in after[2]:
                once[k] = once.get(k, 0) + 1
        if before is not None:
            for k in before[2]:
                n = once[k] - 1
                if n:
                    once[k] = n
                else:
                    del once[k]
    moves = [(k, 1) for k in touched if k in once and k not in held]
    moves.extend((k, -1) for k in held if k not in once)
    return moves


def _updated_latest(latest: dict[str, int], new: AccountFacts, changes: list[Change]) -> list[LatestMove]:
    """Update ``latest`` for ``changes`` (``new``: the facts after them); returns what moved."""
    was = {scope: latest.get(scope) for before, after in changes for piece in (before, after)
           if piece is not None for scope in _scopes_of(piece[3])}
    if not was:
        return []
    fallen: list[str] = []
    for before, after in changes:
        kept = after[3] if after is not None else ()
        for scope, t in _latest_by_scope(kept):
            if latest.get(scope, t - 1) < t:
                latest[scope] = t
        if before is not None and before[3]:
            kept_at: dict[str, int] = {}
            for scope, t in _latest_by_scope(kept):
                if kept_at.get(scope, t - 1) < t:
                    kept_at[scope] = t
            for scope, t in _latest_by_scope(before[3]):
                if kept_at.get(scope, t - 1) < t and latest.get(scope) == t:
                    fallen.append(scope)  # the account's latest instant there may have been this piece's
    if fallen:
        fallen_set = set(fallen)
        tops: dict[str, int] = {}
        for piece in new.pieces():
            for scope, t in _latest_by_scope(piece[3]):
                if scope in fallen_set and tops.get(scope, t - 1) < t:
                    tops[scope] = t
        for scope in fallen_set:
            if scope in tops:
                latest[scope] = tops[scope]
            else:
                del latest[scope]
    return [(scope, t, latest.get(scope)) for scope, t in was.items() if latest.get(scope) != t]


def difference(old: AccountFacts | None, new: AccountFacts) -> tuple[list[Change], list[OnceMove], list[LatestMove]]:
    """What changed from ``old`` to ``new`` when neither was built from the other (``build`` says it
    itself otherwise): pieces by item and signature, then the views compared whole."""
    old = old if old is not None else _EMPTY
    if old.campaign_id != new.campaign_id or old.sla_seconds is not new.sla_seconds:
        # Signatures leave the campaign and the follow-up windows out: every piece may have moved.
        changes: list[Change] = [(before, None) for before in old.pieces()]
        changes.extend((None, after) for after in new.pieces())
    else:
        changes = []
        for olds, news in ((old.leads, new.leads), (old.deals, new.deals)):
            for item_id, after in news.items():
                before = olds.get(item_id)
                if before is None or before[0] != after[0]:
                    changes.append((before, after))
            changes.extend((before, None) for item_id, before in olds.items() if item_id not in news)
        pairs = [(old.payments[i] if i < len(old.payments) else None, new.payments[i] if i < len(new.payments) else None)
                 for i in range(max(len(old.payments), len(new.payments)))]
        pairs += [(old.churn, new.churn), (old.stage, new.stage)]
        changes.extend((b, a) for b, a in pairs if b is None or a is None or b[0] != a[0])
    once_moves: list[OnceMove] = [(k, 1) for k in new.once.keys() - old.once.keys()]
    once_moves.extend((k, -1) for k in old.once.keys() - new.once.keys())
    latest_moves: list[LatestMove] = [(scope, old.latest.get(scope), t) for scope, t in new.latest.items()
                                      if old.latest.get(scope) != t]
    latest_moves.extend((scope, t, None) for scope, t in old.latest.items() if scope not in new.latest)
    return changes, once_moves, latest_moves


def apply_changes(changes: list[Change], once_moves: list[OnceMove], latest_moves: list[LatestMove],
                  into: dict[str, Partial], touched: set[str], changed: set[tuple[Scopes | str, FactKey]]) -> None:
    """``into += new - old`` given what changed (``build`` or ``difference``); the scopes that changed go
    in ``touched``, the counts in ``changed`` (as ``(scopes, key)`` or ``(scope, key)``, what
    ``Scorecard.take_changes`` expands)."""
    for before, after in changes:
        spread_difference(counted_of(before), counted_of(after), into, touched, changed)
    for k, amount in once_moves:  # (few: payments and cancellations hold the once-facts)
        _spread(into, (k[0],), k[1], amount)
        touched.add(k[0])
        changed.add(k)
    for scope, was, now in latest_moves:
        part = into.get(scope)
        if part is None:
            part = into[scope] = Partial()
        if now is not None:
            part.add_latest(now, 1)
        if was is not None:
            part.add_latest(was, -1)
        touched.add(scope)
