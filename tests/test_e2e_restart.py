"""State survives a worker restart, with the memory store (changelog recovery) and RocksDB."""

from __future__ import annotations

import uuid

import pytest

from kafka_io import event, produce, read_topic
from worker_process import WorkerProcess

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_account_state_and_dedup_survive_a_restart(kafka_bootstrap, tmp_path, store):
    prefix = f"rs{uuid.uuid4().hex[:8]}."
    worker = WorkerProcess(kafka_bootstrap, prefix, tmp_path, extra_env={"BATON_STORE": store}).start()
    try:
        acct = f"acct_{uuid.uuid4().hex[:6]}"
        signup = event("signup.created", acct, {"company": "Globex", "email": "ap@globex.example"})
        produce(kafka_bootstrap, prefix, [signup])
        read_topic(kafka_bootstrap, prefix + "notifications", until=lambda rs: len(rs) >= 1)
        worker.stop()
        worker.start()
        pay = event("payment.succeeded", acct, {"payment_id": "p1", "amount": 990, "currency": "USD"},
                    at="2026-11-22T11:00:00Z")
        produce(kafka_bootstrap, prefix, [signup, pay])  # the sign-up again: a duplicate across the restart
        records = read_topic(kafka_bootstrap, prefix + "notifications",
                             until=lambda rs: any(r["value"]["rule"] == "payment-to-sales" for r in rs), settle=2)
        rules = [r["value"]["rule"] for r in records]
        assert rules.count("signup-to-finance") == 1
        payment = next(r["value"] for r in records if r["value"]["rule"] == "payment-to-sales")
        assert payment["title"] == "Globex paid $9.90"  # the company came from state recovered after the restart
        metrics = worker.http_json("/metrics.json")
        assert metrics["events_duplicate"] == 1
        # A clean stop commits: the restarted worker reads nothing it had already processed.
        assert metrics["events_redelivered"] == 0, metrics
    finally:
        worker.stop()
