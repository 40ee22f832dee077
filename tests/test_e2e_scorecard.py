"""The live scorecard through Kafka: known figures over HTTP, and equal to `baton replay`."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from baton.demo.generator import generate
from kafka_io import event, produce, read_topic
from polling import wait_for
from worker_process import WorkerProcess

pytestmark = pytest.mark.kafka


def replay_cli(bootstrap: str, prefix: str, *args: str) -> subprocess.CompletedProcess:
    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "BATON_TOPIC_PREFIX": prefix, "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "baton", "replay", *args], env=env, capture_output=True, text=True,
                          timeout=180)




@pytest.fixture(scope="module")
def prefix() -> str:
    return f"c{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="module")
def worker(kafka_bootstrap, prefix, tmp_path_factory):
    proc = WorkerProcess(kafka_bootstrap, prefix, tmp_path_factory.mktemp("worker")).start()
    yield proc
    proc.stop()


def test_known_events_give_known_figures_over_http(kafka_bootstrap, prefix, worker):
    # Scope "campaign:k-1" isolates this test's accounts from the others on the topic.
    a, b = f"acct_{uuid.uuid4().hex[:6]}", f"acct_{uuid.uuid4().hex[:6]}"
    produce(kafka_bootstrap, prefix, [
        event("lead.created", a, {"lead_id": "la", "source": "marketing", "temperature": "hot", "campaign_id": "k-1"},
              at="2026-10-01T09:00:00Z"),
        event("deal.created", a, {"deal_id": "da", "amount": 100000, "currency": "USD", "owner_id": "r-1",
                                  "lead_id": "la"}, at="2026-10-02T09:00:00Z"),
        event("deal.won", a, {"deal_id": "da", "amount": 120000, "currency": "USD"}, at="2026-10-12T09:00:00Z"),
        event("payment.succeeded", a, {"payment_id": "pa", "amount": 120000, "currency": "USD", "deal_id": "da"},
              at="2026-10-13T09:00:00Z"),
        event("lead.created", b, {"lead_id": "lb", "source": "marketing", "temperature": "cold", "campaign_id": "k-1"},
              at="2026-10-03T09:00:00Z"),
        event("deal.created", b, {"deal_id": "db", "amount": 50000, "currency": "USD", "owner_id": "r-1",
                                  "lead_id": "lb"}, at="2026-10-04T09:00:00Z"),
        event("deal.lost", b, {"deal_id": "db", "reason": "budget"}, at="2026-10-20T09:00:00Z"),
    ])
    record = wait_for(lambda: _scope(worker, "campaign:k-1", lambda r: r["deals_lost"] == 1))
    # By hand: 2 leads, 2 opportunities -> rate 1.0; 1 won, 1 lost -> win rate 0.5;
    # bookings = won amount 120000; cash 120000; cycle 10 days (Oct 2 -> Oct 12); no open pipeline.
    assert record["leads"] == 2 and record["opportunities"] == 2
    assert record["lead_to_opportunity_rate"] == 1.0
    assert record["deals_won"] == 1 and record["deals_lost"] == 1 and record["win_rate"] == 0.5
    assert record["bookings"] == {"USD": 120000} and record["cash_collected"] == {"USD": 120000}
    assert record["pipeline"] == {} and record["average_deal_size"] == {"USD": 120000}
    assert record["average_sales_cycle_days"] == 10.0
    assert record["new_customers"] == 1


def _scope(worker, scope, ready):
    try:
        record = worker.http_json(f"/scorecard?scope={scope}")
    except Exception:
        return None
    return record if ready(record) else None


def test_a_scope_that_becomes_empty_is_tombstoned_and_leaves_the_views(kafka_bootstrap, prefix, worker):
    tag = uuid.uuid4().hex[:6]
    acct, old, new = f"acct_{tag}", f"rep:r-old-{tag}", f"rep:r-new-{tag}"
    produce(kafka_bootstrap, prefix, [event("lead.created", acct, {
        "lead_id": "l1", "source": "marketing", "temperature": "warm", "owner_id": old[4:]}, at="2026-10-01T09:00:00Z")])
    wait_for(lambda: old in worker.http_json("/scorecard?scope=*"), timeout=60)
    # Reassigned: the lead now counts for the new owner, and the old owner's scope has nothing left.
    produce(kafka_bootstrap, prefix, [event("lead.assigned", acct, {"lead_id": "l1", "owner_id": new[4:]},
                                            at="2026-10-01T09:05:00Z")])
    records = read_topic(kafka_bootstrap, prefix + "scorecard",
                         until=lambda rs: any(r["key"] == old and r["value"] is None for r in rs))
    latest = {r["key"]: r["value"] for r in records}
    assert latest[old] is None  # the tombstone is the scope's last record
    assert latest[new]["leads"] == 1
    scopes = wait_for(lambda: (s := worker.http_json("/scorecard?scope=*")) and old not in s and s, timeout=30)
    assert scopes[new]["leads"] == 1


def test_live_scorecard_equals_replay_of_a_realistic_stream(kafka_bootstrap, prefix, worker):
    start = datetime.now(timezone.utc) - timedelta(days=200)
    stream = []
    for topic, key, value in generate(seed=7, accounts=60, start=start):
        stream.append((topic, key.encode(), value))
        if len(stream) == 2500:
            break
    rng = random.Random(3)
    stream += rng.sample(stream, 100)  # duplicates, produced again later
    produce(kafka_bootstrap, prefix, stream)
    # The HTTP view shows the worker has caught up once "all" counts every lead the stream created.
    leads = len({json.loads(v)["data"]["lead_id"] for t, _, v in stream if json.loads(v)["type"] == "lead.created"
                 and json.loads(v)["occurred_at"] < (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()})
    wait_for(lambda: _scope(worker, "all", lambda r: r["leads"] >= leads), timeout=120)
    result = replay_cli(kafka_bootstrap, prefix, "--wait", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "live m2c.scorecard equals the replay" in result.stderr


def test_replay_reports_a_difference_and_exits_non_zero(kafka_bootstrap):
    prefix = f"r{uuid.uuid4().hex[:8]}."  # no worker here: the "live" scorecard is forged
    acct = "acct_x"
    produce(kafka_bootstrap, prefix, [
        event("lead.created", acct, {"lead_id": "l", "source": "sales", "temperature": "warm"},
              at="2026-10-01T09:00:00Z"),
        ("scorecard", b"all", json.dumps({"scope": "all", "leads": 5}).encode()),
    ])
    result = replay_cli(kafka_bootstrap, prefix)
    assert result.returncode == 1
    assert "all.leads: live 5 != replay 1" in result.stdout
    assert "2026-10: missing from live m2c.scorecard" in result.stdout
