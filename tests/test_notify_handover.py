"""The hand-over: what the intake wrote starts on its way before it is read back, once, and only if it may.

Driven with the real dispatcher, the real TableLedger (over a dict standing in for the
Faust table) and the Slack-contract server. The end-to-end side (a worker, Kafka, the
committed offsets of m2c.notifications) is in test_e2e_delivery.py.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import orjson
import pytest

from baton.notify.handover import HandOver
from baton.notify.table_ledger import TableLedger
from slack_server import SlackServer
from test_notify_dispatcher import ids, make, note
from test_table_ledger import DictTable

pytestmark = pytest.mark.timeout(30)

KEY = b"acct_1"


@pytest.fixture
async def slack():
    async with SlackServer() as server:
        yield server


def hand_over(slack: SlackServer, owns=lambda key: True, remembered: int = 100, **delivery):
    table = DictTable()
    ledger = TableLedger(table, table.write)
    dispatcher, records = make(slack, ledger=ledger, **delivery)
    return HandOver(dispatcher, ledger, owns, remembered=remembered), table, records


async def settle(h: HandOver) -> None:
    """Let the offer's task hand everything over (it runs on the loop, as after a produce ack)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_handed_over_notes_are_delivered_and_their_read_back_copy_only_waits_for_them(slack):
    h, table, records = hand_over(slack)
    h.offer([(KEY, note(1)), (KEY, note(2))])
    await settle(h)
    copies = [h.take(note(1).id), h.take(note(2).id)]  # the copies read back from Kafka
    assert all(c is not None for c in copies)
    results = await asyncio.wait_for(asyncio.gather(*copies), 5)
    assert results == [{"slack:#sales": "delivered"}] * 2
    assert Counter(ids(slack.posted)) == {note(1).id: 1, note(2).id: 1}
    # Marked in the ledger under the record's key: a crash now would skip them after the restart.
    assert set(ledger_entry(table, KEY)) == {note(1).id, note(2).id}
    assert [r.status for r in records] == ["delivered", "delivered"]  # no skipped-duplicate for the copies
    assert h.dispatcher.metrics.handed_over == 2
    assert h.take(note(1).id) is None  # a second copy read back is delivered as usual (the ledger skips it)
    await h.dispatcher.stop()


async def test_an_id_read_back_before_is_left_to_the_agent_when_it_is_written_again(slack):
    h, _, records = hand_over(slack)
    assert h.take(note(1).id) is None  # an earlier copy of the id (written before a restart, say) read back
    done = await h.dispatcher.submit(note(1))  # what the delivery agent then does
    h.offer([(KEY, note(1))])
    await settle(h)
    await asyncio.wait_for(done, 5)
    await asyncio.sleep(0.2)
    assert Counter(ids(slack.posted)) == {note(1).id: 1}
    assert [r.status for r in records] == ["delivered"]
    assert h.dispatcher.metrics.handed_over == 0
    await h.dispatcher.stop()


async def test_only_the_partitions_this_worker_delivers_are_handed_over(slack):
    h, _, _ = hand_over(slack, owns=lambda key: key == KEY)
    h.offer([(b"acct_elsewhere", note(1)), (KEY, note(2))])
    await settle(h)
    assert h.take(note(1).id) is None  # another worker's: it reads it back and delivers it
    await asyncio.wait_for(h.take(note(2).id), 5)
    assert ids(slack.posted) == [note(2).id]
    await h.dispatcher.stop()


async def test_with_no_room_in_the_queue_the_rest_waits_in_kafka_and_nothing_piles_up(slack):
    h, _, _ = hand_over(slack, queue_size=2,
                        retry={"initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.1, "max_attempts": 100})
    await slack.go_down()
    h.offer([(KEY, note(i)) for i in range(1, 6)])
    await settle(h)
    assert not h._tasks  # the offer finished instead of waiting for room
    assert h.dispatcher.metrics.queue_depth == 2 and h.dispatcher.metrics.backpressure_waits == 0
    assert [h.take(note(i).id) is not None for i in range(1, 6)] == [True, True, False, False, False]
    await slack.come_back()
    await asyncio.wait_for(h.dispatcher.join(), 5)
    assert Counter(ids(slack.posted)) == {note(1).id: 1, note(2).id: 1}
    await h.dispatcher.stop()


async def test_a_stopped_dispatcher_takes_nothing_and_the_ledger_keeps_no_key(slack):
    h, _, _ = hand_over(slack)
    await h.dispatcher.stop()
    h.offer([(KEY, note(1))])
    await settle(h)
    assert h.take(note(1).id) is None
    assert h.ledger._keys == {}


async def test_ids_waiting_for_their_other_copy_are_bounded(slack):
    h, _, _ = hand_over(slack, remembered=3)
    h.offer([(KEY, note(i)) for i in range(1, 6)])
    await settle(h)
    for i in range(10, 20):
        h.take(note(i).id)  # read back, never handed over (e.g. written by another worker)
    assert len(h._handed) == 3 and len(h._read) == 3
    assert h.take(note(1).id) is None and h.take(note(5).id) is not None  # the oldest went first
    await asyncio.wait_for(h.dispatcher.join(), 5)
    await h.dispatcher.stop()


def ledger_entry(table: DictTable, key: bytes) -> dict:
    return orjson.loads(table.data[key])
