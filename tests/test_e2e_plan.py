"""Revenue at risk through Kafka: a broken win-rate assumption fires once per change of state."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from kafka_io import event, produce, read_topic
from polling import wait_for
from worker_process import WorkerProcess

pytestmark = pytest.mark.kafka

NOW = datetime.now(timezone.utc)
QUARTER = f"{NOW.year}-Q{(NOW.month - 1) // 3 + 1}"


def at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat(timespec="seconds").replace("+00:00", "Z")


PLAN = f"""
[[plans]]
period = "{QUARTER}"
currency = "USD"
revenue_target = 100                # $1.00: pace is never the problem here
leads_per_month = 0
lead_to_opportunity_rate = 0.0
win_rate = 0.5                      # broken below 0.5 x 0.8 = 0.4
average_deal_size = 100000
judge_after_fraction = 0.0
min_closed_deals_for_win_rate = 4
min_won_deals_for_deal_size = 1000
"""


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"p{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="module")
def worker(kafka_bootstrap, prefix, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("worker")
    (workdir / "baton.toml").write_text(PLAN)
    proc = WorkerProcess(kafka_bootstrap, prefix, workdir,
                         extra_env={"BATON_CONFIG": str(workdir / "baton.toml"), "BATON_PLAN_CHECK_SECONDS": "0.5"})
    yield proc.start()
    proc.stop()


def deal(acct: str, deal_id: str, outcome: str, minutes_ago: float) -> list[dict]:
    created = event("deal.created", acct, {"deal_id": deal_id, "amount": 100000, "currency": "USD",
                                           "owner_id": "r-1"}, at=at(minutes_ago + 5))
    if outcome == "won":
        closed = event("deal.won", acct, {"deal_id": deal_id, "amount": 100000, "currency": "USD"}, at=at(minutes_ago))
    else:
        closed = event("deal.lost", acct, {"deal_id": deal_id, "reason": "price"}, at=at(minutes_ago))
    return [created, closed]


def risk_notes(bootstrap, prefix, until=None, settle=0.0):
    records = read_topic(bootstrap, prefix + "notifications",
                         until=until or (lambda rs: True), settle=settle, timeout=60)
    return [r for r in records if r["value"]["rule"] == "revenue-at-risk"]


def test_broken_win_rate_fires_once_survives_restart_and_fires_again_only_on_change(kafka_bootstrap, prefix, worker):
    acct = f"acct_{uuid.uuid4().hex[:6]}"
    # 1 won, 4 lost: win rate 1 / 5 = 20 % against 50 % assumed.
    events = deal(acct, "d0", "won", 50)
    for i in range(1, 5):
        events += deal(acct, f"d{i}", "lost", 50 - i)
    produce(kafka_bootstrap, prefix, events)

    notes = risk_notes(kafka_bootstrap, prefix, until=lambda rs: any(
        r["value"]["rule"] == "revenue-at-risk" for r in rs), settle=3)
    assert len(notes) == 1, [n["value"]["text"] for n in notes]
    first = notes[0]
    assert first["key"] == "revenue-at-risk"  # aggregate alerts are keyed by rule id
    assert first["value"]["team"] == "sales" and set(first["value"]["teams"]) == {"sales", "marketing", "leadership"}
    text = first["value"]["text"]
    assert "win rate" in text.lower() and "20" in text and "50" in text, text

    # Still broken (1 won of 6): no new notification.
    produce(kafka_bootstrap, prefix, deal(acct, "d5", "lost", 40))
    time.sleep(4)
    assert len(risk_notes(kafka_bootstrap, prefix)) == 1

    # A restart while at risk does not report it again (the tracker state is kept in Kafka).
    worker.stop()
    worker.start()
    time.sleep(5)
    assert len(risk_notes(kafka_bootstrap, prefix)) == 1

    # Recovered: 5 won of 10 -> 50 %: one "back on track".
    more = []
    for i in range(6, 10):
        more += deal(acct, f"d{i}", "won", 30 - i)
    produce(kafka_bootstrap, prefix, more)
    notes = risk_notes(kafka_bootstrap, prefix, until=lambda rs: len(
        [r for r in rs if r["value"]["rule"] == "revenue-at-risk"]) >= 2, settle=3)
    assert len(notes) == 2
    assert notes[1]["value"]["severity"] == "info"
    assert notes[1]["value"]["id"] != notes[0]["value"]["id"]



@pytest.fixture(scope="module")
def second(kafka_bootstrap, prefix, worker, tmp_path_factory):
    """A second worker in the first one's group (same app id), with the same plan."""
    workdir = tmp_path_factory.mktemp("second-worker")
    (workdir / "baton.toml").write_text(PLAN)
    proc = WorkerProcess(kafka_bootstrap, prefix, workdir, app_id=worker.app_id,
                         extra_env={"BATON_CONFIG": str(workdir / "baton.toml"), "BATON_PLAN_CHECK_SECONDS": "0.5"})
    yield proc.start()
    proc.stop()


def test_every_worker_of_the_group_shows_the_plan(worker, second):
    # Runs after the test above. Each worker judges from its own read model of m2c.scorecard.
    for proc in (worker, second):
        plans = wait_for(lambda: proc.http_json("/plans"), timeout=60)
        assert plans[QUARTER]["period"] == QUARTER and plans[QUARTER]["currency"] == "USD"


# Regression: after the second worker joined, the first one sometimes (2 of 9 runs) never
# delivered the first records of a partition it kept that had no committed offset yet, so this
# change was not counted and nobody was told (docs/architecture.md, "Partitions without a
# commit after a rebalance"; fixed by baton.agents.recovery's rewind_uncommitted).
def test_with_two_workers_a_change_of_plan_state_is_told_once(kafka_bootstrap, prefix, worker, second):
    before = len(risk_notes(kafka_bootstrap, prefix))  # the test above: broken, then recovered
    acct = f"acct_{uuid.uuid4().hex[:6]}"
    produce(kafka_bootstrap, prefix, [e for i in range(6) for e in deal(acct, f"x{i}", "lost", 20 - i)])
    # 5 won of 16: broken again, and told once although two workers judge it.
    notes = risk_notes(kafka_bootstrap, prefix, until=lambda rs: len(
        [r for r in rs if r["value"]["rule"] == "revenue-at-risk"]) > before, settle=5)
    assert len(notes) == before + 1, [n["value"]["text"] for n in notes]
