"""The delivery ledger in the worker: a changelog-backed Faust table.

Keyed like the notification record itself (its account id, or its rule id for
aggregate alerts), with ``{notification id: [channels delivered]}`` as value.
The table uses the producer's partitioner (murmur2 of the key, as
``m2c.notifications`` does), so an entry lives in the same partition number as
the notification it guards: whichever worker delivers a partition also holds
its ledger after a rebalance. Marks are written by the dispatcher's lanes,
outside any agent's event, so the partition is the key's, not an event's.

``mark_delivered`` returns only once the mark is acknowledged by Kafka, so a
delivery confirmed before a crash is never repeated after it. The write goes
straight to aiokafka (``BatonApp.write_table_now``): Faust's own table write
would wait in its producer buffer first (0.5–1.8 ms more per mark, measured under load).
"""

from __future__ import annotations

from typing import Awaitable, Callable

import orjson

# Ids kept per key: far more than a replay window holds, bounded so one busy
# account cannot grow its entry forever. The oldest are dropped first.
MAX_IDS_PER_KEY = 2000


class TableLedger:
    def __init__(self, table, write: Callable[[bytes, bytes], Awaitable[None]]) -> None:
        """``write(key, value)``: ``table[key] = value``, returning once Kafka acknowledged the
        changelog record (``BatonApp.write_table_now``)."""
        self.table = table
        self._write = write
        # notification id -> [record key, copies in flight]. Counted: after a restart the same
        # id can be in flight twice (the unacknowledged record and the intake's re-emitted copy),
        # and forgetting it when the first finishes made the second miss the ledger and send again.
        self._keys: dict[str, list] = {}

    def remember(self, notification_id: str, key: bytes) -> None:
        held = self._keys.get(notification_id)
        if held is None:
            self._keys[notification_id] = [key, 1]
        else:
            held[1] += 1

    def forget(self, notification_id: str) -> None:
        held = self._keys.get(notification_id)
        if held is not None:
            held[1] -= 1
            if held[1] <= 0:
                del self._keys[notification_id]

    def _key(self, notification_id: str) -> bytes | None:
        held = self._keys.get(notification_id)
        return held[0] if held is not None else None

    def _entry(self, key: bytes) -> dict[str, list[str]]:
        raw = self.table.get(key)
        return orjson.loads(raw) if raw else {}

    async def delivered(self, notification_id: str, channel: str) -> bool:
        key = self._key(notification_id)
        return key is not None and channel in self._entry(key).get(notification_id, ())

    async def mark_delivered(self, notification_id: str, channel: str) -> None:
        key = self._key(notification_id)
        if key is None:
            return
        entry = self._entry(key)
        channels = entry.pop(notification_id, [])  # re-inserted last: dicts keep insertion order
        if channel not in channels:
            channels.append(channel)
        entry[notification_id] = channels
        while len(entry) > MAX_IDS_PER_KEY:
            entry.pop(next(iter(entry)))
        stored = orjson.dumps(entry)
        # The mark must be in Kafka before the lane sends anything else, or a crash right
        # after would forget it and the restarted worker would send the message again. (A
        # plain table write is only buffered; about a second of marks used to be lost to SIGKILL.)
        await self._write(key, stored)
