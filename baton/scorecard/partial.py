"""``Partial``: the summable aggregate behind one scorecard scope.

A Partial is a sparse, signed multiset of *facts*. A fact key is a tuple: the
fact's name followed by its key parts, e.g. ``("leads",)``,
``("bookings", "USD")`` or ``("sourced_revenue", "marketing", "EUR")``; its
value is an integer (a count or minor units). Every figure of a scorecard
record is computed from these integers only when the record is finalized, so:

- ``a + b`` and ``a - b`` are exact inverses (no rounding, no max, no mean is
  ever stored), which lets the live worker subtract an account's old
  contribution and add its new one, and lets partitions be summed;
- keys whose value reaches zero are removed, so equal aggregates compare equal
  and ``is_empty()`` means "nothing counts here".
"""

from __future__ import annotations

from typing import Any, Iterable

FactKey = tuple[Any, ...]

# Every fact a Partial may hold, with the names of its key parts.
FACTS: dict[str, tuple[str, ...]] = {
    "leads": (),
    "opportunities": (),
    "deals_won": (),
    "deals_lost": (),
    "pipeline": ("currency",),
    "bookings": ("currency",),
    "cycle_ms": (),  # sum over won deals of (won - created), milliseconds
    "cycle_deals": (),  # won deals whose creation time is known
    "cash_collected": ("currency",),
    "refunds": ("currency",),
    "new_customers": (),
    "churned_customers": (),
    "active_customers": (),  # accounts that paid or cancelled in the scope
    "paying_customers": ("currency",),  # accounts that paid in that currency in the scope
    "spend": ("team", "currency"),
    "spend_split": ("kind", "currency"),  # kind: paid (has a campaign) | team
    "sourced_pipeline": ("source", "currency"),
    "sourced_revenue": ("source", "currency"),
    "campaign_revenue": ("campaign_id", "currency"),
    "responses_within_sla": (),  # first responses inside the lead's follow-up window
    "stage": ("stage",),  # accounts currently in a funnel stage (time-less scopes only)
    # Multisets of exact values, kept whole so that percentiles and the latest
    # instant survive subtraction (a max or a median cannot be "un-added").
    "response_ms": ("milliseconds",),  # first-response time of a lead -> how many leads
    "latest": ("epoch_ms",),  # latest counted instant of a contributor -> how many contributors
}
INT_KEYED = frozenset({"response_ms", "latest"})

_UNKNOWN: Any = object()  # the cached maximum of "latest" must be recomputed


class Partial:
    """A summable aggregate for one scope (see the module docstring).

    ``counts`` holds every fact but the "latest" multiset, which is kept apart in
    ``latest_counts`` (instant -> how many contributors): it has a key per contributing
    account, more than all other facts together, and a published part or a record
    needs only its maximum, so the hot paths (``to_wire``, ``finalize``) skip it whole.
    """

    __slots__ = ("counts", "latest_counts", "_latest")

    def __init__(self, counts: dict[FactKey, int] | None = None) -> None:
        self.counts: dict[FactKey, int] = {}
        self.latest_counts: dict[int, int] = {}
        self._latest: int | None = _UNKNOWN
        for key, value in (counts or {}).items():
            self.add(key, value)  # "latest" keys go to latest_counts

    # --- arithmetic ----------------------------------------------------------
    def add(self, key: FactKey, amount: int) -> None:
        """In place: ``key += amount``; a key that reaches zero disappears."""
        if key[0] == "latest":
            self.add_latest(key[1], amount)
        elif amount:
            value = self.counts.get(key, 0) + amount
            if value:
                self.counts[key] = value
            else:
                del self.counts[key]

    def add_latest(self, instant: int, amount: int) -> None:
        """In place: ``("latest", instant) += amount``, keeping the cached maximum right."""
        if not amount:
            return
        latest = self.latest_counts
        value = latest.get(instant, 0) + amount
        # The maximum without a scan per flush: a newer instant raises it, and only
        # removing the maximum itself forgets it.
        top = self._latest
        if value:
            latest[instant] = value
            if top is not _UNKNOWN and (top is None or instant > top):
                self._latest = instant
        else:
            del latest[instant]
            if instant == top:
                self._latest = _UNKNOWN

    def latest(self) -> int | None:
        """The greatest instant in the "latest" multiset (the record's ``as_of``), or None."""
        if self._latest is _UNKNOWN:
            self._latest = max(self.latest_counts, default=None)
        return self._latest

    def merge(self, other: "Partial", sign: int = 1) -> "Partial":
        """In place: ``self += sign * other``; returns self."""
        counts = self.counts
        for key, value in other.counts.items():
            value = counts.get(key, 0) + sign * value
            if value:
                counts[key] = value
            else:
                del counts[key]
        for instant, value in other.latest_counts.items():
            self.add_latest(instant, sign * value)
        return self

    def copy(self) -> "Partial":
        clone = Partial()
        clone.counts = dict(self.counts)
        clone.latest_counts = dict(self.latest_counts)
        clone._latest = self._latest
        return clone

    def __add__(self, other: "Partial") -> "Partial":
        return self.copy().merge(other)

    def __sub__(self, other: "Partial") -> "Partial":
        return self.copy().merge(other, -1)

    def __neg__(self) -> "Partial":
        return Partial().merge(self, -1)

    def is_empty(self) -> bool:
        return not self.counts and not self.latest_counts

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Partial) and self.counts == other.counts
                and self.latest_counts == other.latest_counts)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Partial({self.to_json()!r})"

    # --- JSON ------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Nested by key parts: ``{"leads": 3, "bookings": {"USD": 900}, "response_ms": {"1200": 2}}``."""
        doc = self._json()
        if self.latest_counts:
            doc["latest"] = {str(instant): value for instant, value in self.latest_counts.items()}
        return doc

    def to_wire(self) -> dict[str, Any]:
        """``to_json`` with the "latest" multiset cut to its maximum (count 1): what a part publishes.

        A record shows only the greatest instant (``as_of``), and the maximum of a sum of
        such parts is the maximum of their maxima, so nothing a record shows is lost. The
        whole multiset (one key per contributing account) would not fit in a Kafka record
        past some 50,000 accounts; it stays in memory, where subtraction needs it.
        """
        doc = self._json()
        top = self.latest()
        if top is not None:
            doc["latest"] = {str(top): 1}
        return doc

    def to_wire_patch(self, keys: Iterable[FactKey]) -> dict[str, Any]:
        """The current values of ``keys`` only, nested as ``to_json`` (0: the key is gone),
        with the "latest" maximum as ``to_wire`` has it (``{}``: none).

        What the live worker publishes between whole parts: applied to the part as last
        published, it gives ``to_wire()`` (``baton.scorecard.part_store``). Values, not
        increments, so a patch applied twice changes nothing.
        """
        counts = self.counts
        doc = _nest((key, counts.get(key, 0)) for key in keys)
        top = self.latest()
        doc["latest"] = {} if top is None else {str(top): 1}
        return doc

    def _json(self) -> dict[str, Any]:
        """``counts`` nested by key parts ("latest" is not in it)."""
        return _nest(self.counts.items())

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "Partial":
        """The inverse of ``to_json`` (and of ``to_wire``, whose multiset holds only the maximum)."""
        part = cls()
        counts = part.counts
        for fact, node in doc.items():
            if fact not in FACTS:
                raise ValueError(f"unknown scorecard fact {fact!r}")
            if len(FACTS[fact]) == 1 and isinstance(node, dict):
                # The common shape (and the big multisets), without the generic walk below.
                int_keyed, latest = fact in INT_KEYED, fact == "latest"
                for name, value in node.items():
                    if not isinstance(value, int) or isinstance(value, bool):
                        raise ValueError(f"scorecard fact value must be an integer, got {value!r}")
                    if latest:
                        part.add_latest(int(name), value)
                    elif value:
                        key = (fact, int(name) if int_keyed else name)
                        total = counts.get(key, 0) + value
                        if total:
                            counts[key] = total
                        else:
                            del counts[key]
                continue
            for parts, value in fact_leaves(node, len(FACTS[fact])):
                if fact in INT_KEYED:
                    parts = tuple(int(p) for p in parts)
                part.add((fact, *parts), value)
        return part

    # --- the record ----------------------------------------------------------------
    def finalize(self, scope: str) -> dict[str, Any]:
        """The contract's scorecard record for ``scope`` (formulas: docs/scorecard.md)."""
        from baton.scorecard.figures import scorecard_record

        return scorecard_record(self.counts, scope, latest=self.latest())


def _nest(items: Iterable[tuple[FactKey, int]]) -> dict[str, Any]:
    """``(key, value)`` pairs nested by key parts: ``("bookings", "USD"), 900`` -> ``{"bookings": {"USD": 900}}``."""
    # The worker serialises every changed scope each flush, and the response_ms multiset
    # holds hundreds of keys: the one- and two-part keys take a short path.
    doc: dict[str, Any] = {}
    for key, value in items:
        n = len(key)
        if n == 2:
            fact, part = key
            node = doc.get(fact)
            if node is None:
                node = doc[fact] = {}
            node[part if part.__class__ is str else str(part)] = value
        elif n == 1:
            doc[str(key[0])] = value
        else:
            node = doc
            for part in key[:-1]:
                node = node.setdefault(str(part), {})
            node[str(key[-1])] = value
    return doc


def fact_leaves(node: Any, depth: int) -> Iterable[tuple[tuple[str, ...], int]]:
    if depth == 0:
        if not isinstance(node, int) or isinstance(node, bool):
            raise ValueError(f"scorecard fact value must be an integer, got {node!r}")
        yield (), node
        return
    if not isinstance(node, dict):
        raise ValueError(f"scorecard fact needs {depth} more key part(s), got {node!r}")
    for part, child in node.items():
        for rest, value in fact_leaves(child, depth - 1):
            yield (part, *rest), value
