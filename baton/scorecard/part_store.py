"""The combiner's side of ``scorecard-parts``: each partition's part of a scope, and their sum.

The live worker publishes, per changed scope and input partition, either the
whole part (``Partial.to_wire``, now and then) or a patch: the current values
of the keys that changed since its last message (``Partial.to_wire_patch``).
``PartStore`` keeps every part as last published (the wire JSON, which is also
what the combiner's table holds) and a running sum per scope, so a message costs
what it changed, not what the scope holds, and a record is one ``finalize``.

Messages carry values, not increments: one applied twice (a redelivery after a
crash) changes nothing, and the next whole part mends anything a lost one left.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from baton.scorecard.figures import scorecard_record
from baton.scorecard.partial import FACTS, INT_KEYED, FactKey, Partial, fact_leaves

WireDoc = dict[str, Any]


def part_message(scope: str, partition: int, part: Partial | None, keys: Iterable[FactKey] | None = None) -> WireDoc:
    """The ``scorecard-parts`` message for one scope of one partition: the whole part
    (``keys`` None), a patch of ``keys``, or, when ``part`` is None, the news that it is gone."""
    if part is None:
        return {"scope": scope, "partition": partition, "part": None}
    if keys is None:
        return {"scope": scope, "partition": partition, "part": part.to_wire()}
    return {"scope": scope, "partition": partition, "patch": part.to_wire_patch(keys)}


class _Sum:
    """The sum of a scope's parts, its response-time multiset kept apart from the other counts.

    A record walks the counts key by key; the multiset (hundreds of keys in a big scope)
    needs only its size and two ranks (``figures.scorecard_record(responses=...)``).
    ``maxima`` holds each part's latest instant (instant -> how many parts): the record's
    ``as_of`` is the greatest.
    """

    __slots__ = ("counts", "responses", "maxima", "_ordered")

    def __init__(self) -> None:
        self.counts: dict[FactKey, int] = {}
        self.responses: dict[int, int] = {}
        self.maxima: dict[int, int] = {}
        # The response times in order, kept between records: most patches change how many
        # leads have a time already there, not which times there are.
        self._ordered: list[int] | None = []

    def add(self, key: FactKey, amount: int) -> None:
        if not amount:
            return
        if key[0] == "response_ms":
            counts, key = self.responses, key[1]
        else:
            counts = self.counts
        value = counts.get(key, 0) + amount
        if value:
            if counts is self.responses and key not in counts:
                self._ordered = None
            counts[key] = value
        else:
            del counts[key]
            if counts is self.responses:
                self._ordered = None

    def add_latest(self, instant: int, amount: int) -> None:
        value = self.maxima.get(instant, 0) + amount
        if value:
            self.maxima[instant] = value
        else:
            del self.maxima[instant]

    def merge(self, part: Partial, sign: int) -> None:
        for key, value in part.counts.items():
            self.add(key, sign * value)
        for instant, value in part.latest_counts.items():
            self.add_latest(instant, sign * value)

    def is_empty(self) -> bool:
        return not self.counts and not self.responses and not self.maxima

    def record(self, scope: str) -> dict[str, Any]:
        if self._ordered is None:
            self._ordered = sorted(self.responses)
        latest = max(self.maxima, default=None)
        return scorecard_record(self.counts, scope, latest, responses=self.responses, response_values=self._ordered)


class PartStore:
    """Scope -> partition -> published part, and scope -> the sum of its parts.

    ``load(scope, partition)`` reads a part from the combiner's table (None: no
    part); a scope is read from it once, the first time it is needed, and kept.
    """

    def __init__(self, partitions: int, load: Callable[[str, int], WireDoc | None]) -> None:
        self.partitions = partitions
        self._load = load
        self._parts: dict[str, dict[int, WireDoc]] = {}
        self._totals: dict[str, _Sum] = {}

    def clear(self) -> None:
        """Forget everything kept (the table may have changed meanwhile, e.g. in a rebalance)."""
        self._parts.clear()
        self._totals.clear()

    def apply(self, message: WireDoc) -> tuple[str, int, WireDoc | None]:
        """Apply one ``scorecard-parts`` message; returns its scope, partition and the part
        now published (None: there is none), which is what the table should hold.

        Raises ValueError for a message that is not one (nothing is changed then).
        """
        scope, partition = message.get("scope"), message.get("partition")
        if not isinstance(scope, str) or not isinstance(partition, int) or isinstance(partition, bool):
            raise ValueError(f"a scorecard part message needs a scope and a partition, got {sorted(message)}")
        parts, total = self._scope(scope)
        old = parts.get(partition)
        if "patch" in message:
            patch = message["patch"]
            if not isinstance(patch, dict):
                raise ValueError(f"a scorecard patch must be an object, got {type(patch).__name__}")
            doc = parts[partition] = _patched(old or {}, patch, total)
            if not doc:
                del parts[partition]  # the patch emptied it
        else:
            doc = message.get("part") or None
            new = Partial.from_json(doc) if doc else None  # raises before anything changes
            if old:
                total.merge(Partial.from_json(old), -1)
            if new is not None:
                total.merge(new, 1)
                parts[partition] = doc
            else:
                parts.pop(partition, None)
        return scope, partition, parts.get(partition)

    def record(self, scope: str) -> dict[str, Any] | None:
        """The scope's scorecard record (None: the scope is empty, publish a tombstone)."""
        total = self._scope(scope)[1]
        return None if total.is_empty() else total.record(scope)

    def _scope(self, scope: str) -> tuple[dict[int, WireDoc], _Sum]:
        parts = self._parts.get(scope)
        if parts is None:
            parts, total = {}, _Sum()
            for partition in range(self.partitions):
                doc = self._load(scope, partition)
                if doc:
                    total.merge(Partial.from_json(doc), 1)
                    parts[partition] = doc
            self._parts[scope], self._totals[scope] = parts, total
        return parts, self._totals[scope]


def _patched(doc: WireDoc, patch: WireDoc, total: _Sum) -> WireDoc:
    """``doc`` (a part as published) with ``patch`` applied, in place; ``total`` moves by the difference."""
    # Check it all first: a half-applied patch would leave doc and total apart.
    flat: list[tuple[str, dict[str, int]]] = []  # one-part facts of the usual shape (response_ms, money)
    deeper: list[tuple[str, tuple[str, ...], int]] = []  # leaves of the other facts (scalars, two parts)
    for fact, node in patch.items():
        depth = FACTS.get(fact)
        if depth is None:
            raise ValueError(f"unknown scorecard fact {fact!r}")
        if fact == "latest":
            if not isinstance(node, dict) or len(node) > 1:
                raise ValueError(f"a patch's latest is {{}} or one instant, got {node!r}")
        if len(depth) == 1 and isinstance(node, dict) and all(v.__class__ is int for v in node.values()):
            if fact != "latest":
                flat.append((fact, node))
            continue
        deeper.extend((fact, parts, value) for parts, value in fact_leaves(node, len(depth)))
    if "latest" in patch:  # the maximum is replaced, not summed: the old one goes first
        for name, value in doc.pop("latest", {}).items():
            total.add_latest(int(name), -value)
        for name, value in patch["latest"].items():
            if value:
                doc["latest"] = {name: value}
                total.add_latest(int(name), value)
    for fact, node in flat:
        into = doc.get(fact)
        if into is None:
            into = doc[fact] = {}
        int_keyed = fact in INT_KEYED
        for name, value in node.items():
            old = into.get(name, 0)
            if value == old:
                continue
            if value:
                into[name] = value
            else:
                del into[name]
            total.add((fact, int(name) if int_keyed else name), value - old)
        if not into:
            del doc[fact]
    for fact, parts, value in deeper:
        old = _set_leaf(doc, fact, parts, value)
        if value != old:
            total.add((fact, *parts), value - old)
    return doc


def _set_leaf(doc: WireDoc, fact: str, parts: tuple[str, ...], value: int) -> int:
    """Set ``doc[fact][parts...] = value`` (0: remove it and any node left empty); returns the old value."""
    if not parts:
        old = doc.get(fact, 0)
        if value:
            doc[fact] = value
        else:
            doc.pop(fact, None)
        return old
    path = [doc]
    node = doc.setdefault(fact, {})
    for part in parts[:-1]:
        path.append(node)
        node = node.setdefault(part, {})
    old = node.get(parts[-1], 0)
    if value:
        node[parts[-1]] = value
    else:
        node.pop(parts[-1], None)
        # Prune the nodes this left empty, innermost first.
        names = (fact, *parts[:-1])
        for parent, name in zip(reversed(path), reversed(names)):
            if parent[name]:
                break
            del parent[name]
    return old
