"""An account's event history: the single source every figure is folded from.

Baton keeps, per account, the distinct events it has seen (by ``id``) in
``occurred_at`` order. Every derived value (stage, owner, scorecard
contributions) is a pure fold over this list, so live state, a restart and an
offline replay of the same events agree whatever order they arrived in.
"""

from __future__ import annotations

from bisect import insort
from operator import itemgetter
from typing import Any, Iterable, NamedTuple

import orjson
from pydantic import BaseModel

from baton.streams.events import Event

# A compact, JSON-ready event: {"id", "type", "t" (epoch ms, UTC), "data", ...}.
Compact = dict[str, Any]


def compact(event: Event) -> Compact:
    """The fields a fold needs, with ``occurred_at`` as epoch milliseconds."""
    out = {
        "id": event.id,
        "type": event.type,
        "t": int(event.occurred_at.timestamp() * 1000),
        "data": _data_dict(event.data),
    }
    if event.account_id is not None:
        out["account_id"] = event.account_id
    return out


def _data_dict(data: BaseModel) -> dict[str, Any]:
    """The declared fields of ``data`` that are set (every one a str or an int).

    Unknown extra fields are dropped here: the contract keeps them on the wire
    and ignores them, and no state needs them, while a 600 KB string or a 2**70
    integer among them would break the account's stored history. Reading the
    attributes costs ~0.3 µs per event; ``model_dump`` ~2 µs.
    """
    return {k: v for k, v in data.__dict__.items() if v is not None}


# occurred_at first; the id breaks ties so equal times still order the same everywhere.
# ``order_key(ev) == (ev["t"], ev["id"])``, as a C-level getter (sorting calls it per event).
order_key = itemgetter("t", "id")


class _Stored(NamedTuple):
    data: bytes  # what to_bytes() returned
    events_end: int  # the offset of the events array's closing "]"
    count: int  # how many events it holds
    fired: int  # how many fired checks it holds


class AccountHistory:
    """Distinct events of one account, kept sorted by (occurred_at, id)."""

    __slots__ = ("account_id", "events", "_by_id", "fired", "_stored")

    def __init__(self, account_id: str, events: Iterable[Compact] = (), fired: dict[str, Any] | None = None) -> None:
        self.account_id = account_id
        self.events: list[Compact] = sorted(events, key=order_key)
        self._by_id = {ev["id"]: ev for ev in self.events}
        # Timer checks that already fired for this account ("lead-sla:l-1" -> the due
        # record that fired it): kept beside the events, so folds and replays never see them.
        self.fired: dict[str, Any] = dict(fired or {})
        self._stored: _Stored | None = None  # the last to_bytes(), to extend when events are appended

    @classmethod
    def of_distinct(cls, account_id: str, by_id: dict[str, Compact]) -> "AccountHistory":
        """``AccountHistory(account_id, by_id.values())`` for events already keyed by their id
        (a replay's): the dict is taken over as the id index, not rebuilt."""
        history = cls.__new__(cls)
        history.account_id = account_id
        history.events = sorted(by_id.values(), key=order_key)
        history._by_id = by_id
        history.fired = {}
        history._stored = None
        return history

    def add(self, ev: Compact) -> bool:
        """Add one event; False (and no change) if its id was seen already."""
        if ev["id"] in self._by_id:
            return False
        self._by_id[ev["id"]] = ev
        if self.sorts_last(ev):
            self.events.append(ev)  # the common case: in order
        else:
            insort(self.events, ev, key=order_key)
            self._stored = None  # no longer a prefix of the events
        return True

    def sorts_last(self, ev: Compact) -> bool:
        """Whether ``ev`` goes after every event held (it then extends the history's fold)."""
        return not self.events or order_key(self.events[-1]) <= order_key(ev)

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._by_id

    def get(self, event_id: str) -> Compact | None:
        return self._by_id.get(event_id)

    def __len__(self) -> int:
        return len(self.events)

    def to_bytes(self) -> bytes:
        """``orjson.dumps({"account_id", "events", "fired" if any})``, byte for byte.

        An account's bytes are written after every change, and serialising the whole
        history each time cost ~20 µs per event for a cached account (long-lived objects
        spread over memory). Events appended since the last call are spliced into the
        last bytes instead (a copy, no re-serialisation). ``fired`` only ever gains
        entries, so its size tells whether it changed.
        """
        stored, events, fired = self._stored, self.events, self.fired
        if stored is not None and stored.fired == len(fired):
            if stored.count == len(events):
                return stored.data
            added = b",".join(orjson.dumps(ev) for ev in events[stored.count:])
            if stored.count:
                added = b"," + added
            end = stored.events_end
            data = stored.data[:end] + added + stored.data[end:]
            self._stored = _Stored(data, end + len(added), len(events), stored.fired)
            return data
        head = b'{"account_id":' + orjson.dumps(self.account_id) + b',"events":' + orjson.dumps(events)
        data = head + (b',"fired":' + orjson.dumps(fired) + b"}" if fired else b"}")
        self._stored = _Stored(data, len(head) - 1, len(events), len(fired))
        return data

    @classmethod
    def from_bytes(cls, raw: bytes) -> "AccountHistory":
        doc = orjson.loads(raw)
        return cls(doc["account_id"], doc["events"], doc.get("fired"))
