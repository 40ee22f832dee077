"""Recently used accounts, decoded, in front of the ``accounts`` table.

The table is the durable copy: one changelog record per account per batch.
Reading it back means parsing and sorting the whole history and folding it
again, for every event (~30 µs at 20 events per account). The cache keeps,
for the accounts seen last, the decoded history, its folded state and the
scorecard facts last counted for it, so the next event of the account costs
one fold.

It must never disagree with the table: the intake drops an entry whenever it
does not store what the entry holds (a rejected event, an error), and the
whole cache is dropped when partitions move or tables recover.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baton.funnel.fold import AccountState
from baton.funnel.history import AccountHistory


@dataclass(slots=True)
class CachedAccount:
    history: AccountHistory
    state: AccountState | None  # fold(history); None before the first event
    facts: Any = None  # the scorecard facts (AccountFacts) last counted for ``state``, if any


class AccountCache:
    """A bounded map key -> CachedAccount, least recently used out first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: dict[bytes, CachedAccount] = {}
        self.hits = self.misses = 0

    def get(self, key: bytes) -> CachedAccount | None:
        entry = self._entries.pop(key, None)
        if entry is None:
            self.misses += 1
            return None
        self._entries[key] = entry  # most recent last: dicts keep insertion order
        self.hits += 1
        return entry

    def put(self, key: bytes, entry: CachedAccount) -> None:
        entries = self._entries
        entries.pop(key, None)
        entries[key] = entry
        if len(entries) > self.capacity:
            del entries[next(iter(entries))]

    def drop(self, key: bytes) -> CachedAccount | None:
        """Forget ``key``; returns the entry it held, if any."""
        return self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
