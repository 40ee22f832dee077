"""The ledger's bookkeeping: an id in flight twice keeps its key until both copies finish; marks written at once all stay."""

from __future__ import annotations

import asyncio

from baton.notify.table_ledger import TableLedger


class DictTable:
    """What TableLedger reads of a Faust table (get), and a write that records the changelog."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.changelog: list[tuple[bytes, bytes]] = []

    def get(self, key: bytes):
        return self.data.get(key)

    async def write(self, key: bytes, value: bytes) -> None:
        # As BatonApp.write_table_now: the table changes before the first await, then the
        # (here: simulated) wait for Kafka's acknowledgement.
        self.data[key] = value
        self.changelog.append((key, value))
        await asyncio.sleep(0.01)


async def test_a_second_copy_in_flight_still_finds_the_mark_after_the_first_finishes():
    table = DictTable()
    ledger = TableLedger(table, table.write)
    ledger.remember("payment-to-sales:e1", b"acct_1")  # the unacknowledged record, re-read after a restart
    ledger.remember("payment-to-sales:e1", b"acct_1")  # and the intake's re-emitted copy
    await ledger.mark_delivered("payment-to-sales:e1", "slack:#sales")
    ledger.forget("payment-to-sales:e1")  # the first copy is finished
    assert await ledger.delivered("payment-to-sales:e1", "slack:#sales")  # the second must skip, not resend
    assert table.changelog and table.changelog[-1][0] == b"acct_1"
    ledger.forget("payment-to-sales:e1")
    assert not await ledger.delivered("payment-to-sales:e1", "slack:#sales")  # no longer in flight: unknown


async def test_marks_of_one_key_written_at_once_keep_every_id():
    # Two lanes (two channels) mark ids of the same account while each other's write is in flight.
    table = DictTable()
    ledger = TableLedger(table, table.write)
    for note in ("payment-to-sales:e1", "signup-to-finance:e2"):
        ledger.remember(note, b"acct_1")
    await asyncio.gather(ledger.mark_delivered("payment-to-sales:e1", "slack:#sales"),
                         ledger.mark_delivered("signup-to-finance:e2", "slack:#finance"))
    assert await ledger.delivered("payment-to-sales:e1", "slack:#sales")
    assert await ledger.delivered("signup-to-finance:e2", "slack:#finance")
    last = table.changelog[-1][1]  # what compaction keeps
    assert b"payment-to-sales:e1" in last and b"signup-to-finance:e2" in last
