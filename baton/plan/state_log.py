"""The last state seen per key, and how often it changed: the memory behind "once per change of state"."""

from __future__ import annotations

from typing import Any

FORMAT_VERSION = 1


class StateLog:
    """``record(key, state)`` answers "is this a change?" and numbers the changes.

    The change number goes into notification ids: a plan that goes A -> B -> A
    notifies three times with three ids, while replaying the same change after
    a crash (state restored from the table) yields the same id again, which
    the notification dedup drops.
    """

    def __init__(self, default: str, entries: dict[str, dict[str, Any]] | None = None) -> None:
        self.default = default
        self.entries: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (entries or {}).items()}

    def state(self, key: str) -> str:
        entry = self.entries.get(key)
        return entry["state"] if entry else self.default

    def record(self, key: str, state: str) -> int | None:
        """Store ``state``; the new change number when it differs from the last one, else None."""
        if state == self.state(key):
            return None
        changes = self.entries.get(key, {}).get("changes", 0) + 1
        self.entries[key] = {"state": state, "changes": changes}
        return changes

    def to_dict(self) -> dict[str, Any]:
        return {"version": FORMAT_VERSION, "entries": {k: dict(v) for k, v in sorted(self.entries.items())}}

    @classmethod
    def from_dict(cls, default: str, doc: dict[str, Any] | None) -> "StateLog":
        doc = doc or {}
        if doc and doc.get("version") != FORMAT_VERSION:
            raise ValueError(f"unknown state log version {doc.get('version')!r}")
        return cls(default, doc.get("entries"))
