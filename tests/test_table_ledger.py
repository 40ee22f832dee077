"""The ledger's in-flight bookkeeping: an id in flight twice keeps its key until both copies finish."""

from __future__ import annotations


from baton.notify.table_ledger import TableLedger


class DictTable:
    """What TableLedger reads of a Faust table (get), and a write that records the changelog."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.changelog: list[tuple[bytes, bytes]] = []

    def get(self, key: bytes):
        return self.data.get(key)

    async def write(self, key: bytes, value: bytes) -> None:
        self.data[key] = value
        self.changelog.append((key, value))


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
