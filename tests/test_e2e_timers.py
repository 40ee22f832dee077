"""Lead follow-up SLAs and missing payments, end to end with short windows."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from kafka_io import event, produce, read_topic
from worker_process import WorkerProcess

pytestmark = pytest.mark.kafka

SLA = {"BATON_SLA_HOT_SECONDS": "3", "BATON_SLA_WARM_SECONDS": "3600", "BATON_TIMER_TICK_SECONDS": "0.2",
       "BATON_PAYMENT_MISSING_DAYS": str(4 / 86400)}  # 4 seconds


def now(offset_s: float = 0) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=offset_s)).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def ids(records, rule):
    return [r["value"]["id"] for r in records if r["value"]["rule"] == rule]


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"s{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="module")
def worker(kafka_bootstrap, prefix, tmp_path_factory):
    proc = WorkerProcess(kafka_bootstrap, prefix, tmp_path_factory.mktemp("worker"), extra_env=SLA).start()
    yield proc
    proc.stop()


def test_hot_lead_without_contact_breaches_once_and_contacted_lead_never(kafka_bootstrap, prefix, worker):
    cold_call, called = f"acct_{uuid.uuid4().hex[:6]}", f"acct_{uuid.uuid4().hex[:6]}"
    produce(kafka_bootstrap, prefix, [
        event("lead.created", cold_call, {"lead_id": "l-1", "source": "marketing", "temperature": "hot",
                                          "owner_id": "r-7", "contact_name": "Dana"}, at=now()),
        event("lead.created", called, {"lead_id": "l-2", "source": "sales", "temperature": "hot"}, at=now()),
        event("lead.contacted", called, {"lead_id": "l-2", "owner_id": "r-2"}, at=now(1)),
    ])
    breach_id = f"lead-sla-breach:{cold_call}:l-1"
    records = read_topic(kafka_bootstrap, prefix + "notifications",
                         until=lambda rs: breach_id in ids(rs, "lead-sla-breach"), settle=5, timeout=60)
    breaches = [r["value"] for r in records if r["value"]["rule"] == "lead-sla-breach"]
    assert [b["id"] for b in breaches] == [breach_id]
    note = breaches[0]
    assert note["team"] == "sales-management"
    assert "Dana" in note["text"] and "r-7" in note["text"] and "3 s follow-up window" in note["text"]
    assert note["facts"]["late_by_seconds"] >= 0
    # The hot-lead rule told sales, with the deadline, for both leads.
    assert len([i for i in ids(records, "hot-lead-to-sales") if i]) >= 2


def test_breach_due_while_worker_is_stopped_is_reported_once_after_restart(kafka_bootstrap, prefix, worker):
    acct = f"acct_{uuid.uuid4().hex[:6]}"
    produce(kafka_bootstrap, prefix, [
        event("lead.created", acct, {"lead_id": "l-9", "source": "marketing", "temperature": "hot"}, at=now()),
    ])
    # Wait until the worker has the lead (its hot-lead notice is out), then stop it before the window closes.
    read_topic(kafka_bootstrap, prefix + "notifications",
               until=lambda rs: any(r["value"].get("account_id") == acct for r in rs), timeout=30)
    worker.stop()
    time.sleep(5)  # the 3 s window closes while nobody is running
    worker.start()
    breach_id = f"lead-sla-breach:{acct}:l-9"
    records = read_topic(kafka_bootstrap, prefix + "notifications",
                         until=lambda rs: breach_id in ids(rs, "lead-sla-breach"), settle=4, timeout=60)
    assert ids(records, "lead-sla-breach").count(breach_id) == 1
    # A second restart does not report it again.
    worker.stop()
    worker.start()
    time.sleep(3)
    records = read_topic(kafka_bootstrap, prefix + "notifications", until=lambda rs: True, settle=1)
    assert ids(records, "lead-sla-breach").count(breach_id) == 1


def test_won_deal_without_payment_tells_finance_once(kafka_bootstrap, prefix, worker):
    unpaid, paid = f"acct_{uuid.uuid4().hex[:6]}", f"acct_{uuid.uuid4().hex[:6]}"
    events = []
    for acct in (unpaid, paid):
        events += [
            event("deal.created", acct, {"deal_id": "d-1", "amount": 5000, "currency": "USD", "owner_id": "r-3"},
                  at=now(-60)),
            event("deal.won", acct, {"deal_id": "d-1", "amount": 5000, "currency": "USD"}, at=now()),
        ]
    events.append(event("payment.succeeded", paid, {"payment_id": "p-1", "amount": 5000, "currency": "USD",
                                                    "deal_id": "d-1"}, at=now(1)))
    produce(kafka_bootstrap, prefix, events)
    missing_id = f"payment-missing:{unpaid}:d-1"
    records = read_topic(kafka_bootstrap, prefix + "notifications",
                         until=lambda rs: missing_id in ids(rs, "payment-missing"), settle=6, timeout=60)
    assert [i for i in ids(records, "payment-missing") if unpaid in i or paid in i] == [missing_id]
    note = next(r["value"] for r in records if r["value"]["id"] == missing_id)
    assert note["team"] == "finance" and "r-3" in note["text"] and "$50.00" in note["text"]
