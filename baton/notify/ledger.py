"""The ledger of delivered (notification id, channel) pairs: what makes a resend impossible.

The dispatcher asks ``delivered`` before every send and calls
``mark_delivered`` only after the channel confirmed the send. In the worker
the ledger is a changelog-backed Faust table, so it survives restarts and
rebalances; ``InMemoryLedger`` is for tests and single-process runs.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class DeliveryLedger(Protocol):
    async def delivered(self, notification_id: str, channel: str) -> bool: ...

    async def mark_delivered(self, notification_id: str, channel: str) -> None: ...


class InMemoryLedger:
    def __init__(self) -> None:
        self.entries: set[tuple[str, str]] = set()

    async def delivered(self, notification_id: str, channel: str) -> bool:
        return (notification_id, channel) in self.entries

    async def mark_delivered(self, notification_id: str, channel: str) -> None:
        self.entries.add((notification_id, channel))
