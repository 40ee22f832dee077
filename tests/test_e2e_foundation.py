"""End to end through a real Kafka: contract events in, notifications and dead letters out."""

from __future__ import annotations

import json
import uuid

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from kafka_io import committed_and_ends, event, produce, read_topic
from worker_process import WorkerProcess

pytestmark = pytest.mark.kafka

NOTIFICATION_FIELDS = {"id", "rule", "team", "severity", "account_id", "title", "text", "channels", "cause",
                       "created_at"}


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"f{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="module")
def worker(kafka_bootstrap, prefix, tmp_path_factory):
    proc = WorkerProcess(kafka_bootstrap, prefix, tmp_path_factory.mktemp("worker")).start()
    yield proc
    proc.stop()


def notifications_for(records, account_id):
    return [r["value"] for r in records if r["value"].get("account_id") == account_id]


def test_payment_yields_exactly_one_payment_to_sales_record(kafka_bootstrap, prefix, worker):
    acct = f"acct_{uuid.uuid4().hex[:6]}"
    signup = event("signup.created", acct, {"company": "Acme", "email": "billing@acme.example"})
    deal = event("deal.created", acct, {"deal_id": "d-9", "amount": 1200000, "currency": "USD", "owner_id": "r-7"})
    pay = event("payment.succeeded", acct, {"payment_id": "pay_1", "amount": 1200000, "currency": "USD",
                                            "deal_id": "d-9"}, at="2026-11-22T10:05:00Z")
    produce(kafka_bootstrap, prefix, [signup, deal, pay])

    records = read_topic(kafka_bootstrap, prefix + "notifications",
                         until=lambda rs: any(n["rule"] == "payment-to-sales"
                                              for n in notifications_for(rs, acct)), settle=2)
    mine = notifications_for(records, acct)
    payments = [n for n in mine if n["rule"] == "payment-to-sales"]
    assert len(payments) == 1
    note = payments[0]
    assert NOTIFICATION_FIELDS <= note.keys()
    assert note["id"] == f"payment-to-sales:{pay['id']}"
    assert note["team"] == "sales" and note["severity"] == "info"
    assert note["title"] == "Acme paid $12,000.00"
    assert note["text"] == "Payment pay_1 of $12,000.00 from Acme (deal d-9, owner r-7)."
    assert note["cause"] == {"event_id": pay["id"], "type": "payment.succeeded"}
    assert note["created_at"].endswith("Z")
    signups = [n for n in mine if n["rule"] == "signup-to-finance"]
    assert len(signups) == 1 and signups[0]["team"] == "finance"
    # Keyed by account_id (contract).
    assert all(r["key"] == acct for r in records if r["value"].get("account_id") == acct)


def test_duplicate_event_id_notifies_once(kafka_bootstrap, prefix, worker):
    acct = f"acct_{uuid.uuid4().hex[:6]}"
    pay = event("payment.succeeded", acct, {"payment_id": "pay_2", "amount": 500, "currency": "EUR"})
    produce(kafka_bootstrap, prefix, [pay, pay, dict(pay)])
    marker = event("payment.succeeded", acct, {"payment_id": "pay_3", "amount": 700, "currency": "EUR"})
    produce(kafka_bootstrap, prefix, [marker])  # processed after the duplicates: once it is out, they were seen

    records = read_topic(kafka_bootstrap, prefix + "notifications",
                         until=lambda rs: any(n["cause"]["event_id"] == marker["id"]
                                              for n in notifications_for(rs, acct)), settle=1)
    ids = [n["id"] for n in notifications_for(records, acct)]
    assert ids.count(f"payment-to-sales:{pay['id']}") == 1
    assert ids.count(f"payment-to-sales:{marker['id']}") == 1


def test_poison_record_then_valid_one_is_still_processed(kafka_bootstrap, prefix, worker):
    acct = f"acct_{uuid.uuid4().hex[:6]}"
    good = event("payment.succeeded", acct, {"payment_id": "pay_4", "amount": 100, "currency": "USD"})
    produce(kafka_bootstrap, prefix, [("payments", acct.encode(), b"\x00\xffnot json at all{"), good])

    notes = read_topic(kafka_bootstrap, prefix + "notifications",
                       until=lambda rs: any(n["cause"]["event_id"] == good["id"] for n in notifications_for(rs, acct)))
    assert [n["id"] for n in notifications_for(notes, acct)] == [f"payment-to-sales:{good['id']}"]
    dead = read_topic(kafka_bootstrap, prefix + "deadletter", until=lambda rs: any(r["key"] == acct for r in rs))
    mine = [r["value"] for r in dead if r["key"] == acct]
    assert len(mine) == 1
    letter = mine[0]
    assert {"reason", "topic", "partition", "offset", "key", "raw"} <= letter.keys()
    assert letter["topic"] == prefix + "payments" and letter["key"] == acct
    assert "not valid JSON" in letter["reason"]
    assert "not json at all" in letter["raw"] and letter["raw_base64"]  # exact bytes kept when not UTF-8


BAD_INPUTS = {
    "missing field": ({"id": "x1", "type": "payment.succeeded", "occurred_at": "2026-11-22T10:04:00Z",
                       "data": {"payment_id": "p", "amount": 1, "currency": "USD"}}, "missing required field 'account_id'"),
    "wrong type": ({"id": "x2", "type": "payment.succeeded", "occurred_at": "2026-11-22T10:04:00Z",
                    "data": {"payment_id": "p", "amount": "100", "currency": "USD"}}, "data.amount"),
    "unknown type": ({"id": "x3", "type": "payment.teleported", "occurred_at": "2026-11-22T10:04:00Z",
                      "data": {}}, "unknown type 'payment.teleported'"),
    "negative amount": ({"id": "x4", "type": "payment.succeeded", "occurred_at": "2026-11-22T10:04:00Z",
                         "data": {"payment_id": "p", "amount": -5, "currency": "USD"}}, "must not be negative"),
    "bad currency": ({"id": "x5", "type": "payment.succeeded", "occurred_at": "2026-11-22T10:04:00Z",
                      "data": {"payment_id": "p", "amount": 5, "currency": "dollars"}}, "ISO 4217"),
    "bad timestamp": ({"id": "x6", "type": "payment.succeeded", "occurred_at": "22/11/2026 10:04",
                       "data": {"payment_id": "p", "amount": 5, "currency": "USD"}}, "RFC 3339"),
}


def test_each_kind_of_bad_input_is_dead_lettered_with_its_reason(kafka_bootstrap, prefix, worker):
    acct = f"acct_{uuid.uuid4().hex[:6]}"
    raws = []
    for name, (value, _) in BAD_INPUTS.items():
        value = {**value, "account_id": acct} if name != "missing field" else value
        raws.append(("payments", acct.encode(), json.dumps(value).encode()))
    produce(kafka_bootstrap, prefix, raws)
    dead = read_topic(kafka_bootstrap, prefix + "deadletter",
                      until=lambda rs: len([r for r in rs if r["key"] == acct]) >= len(BAD_INPUTS))
    reasons = {json.loads(r["value"]["raw"])["id"]: r["value"]["reason"] for r in dead if r["key"] == acct}
    for name, (value, expected) in BAD_INPUTS.items():
        assert expected in reasons[value["id"]], (name, reasons[value["id"]])


def test_contract_topics_exist_and_outputs_are_compacted(kafka_bootstrap, prefix, worker):
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        topics = set(admin.list_topics())
        for short in ("signups", "leads", "deals", "payments", "spend", "notifications", "deliveries", "funnel",
                      "scorecard", "deadletter"):
            assert prefix + short in topics
        resources = [ConfigResource(ConfigResourceType.TOPIC, prefix + t) for t in ("funnel", "scorecard", "leads")]
        described = admin.describe_configs(resources)["topic"]
        # Only non-default configs come back; the broker default policy is "delete".
        policies = {name: cfg.get("cleanup.policy", {"value": "delete"})["value"] for name, cfg in described.items()}
        assert policies[prefix + "funnel"] == "compact"
        assert policies[prefix + "scorecard"] == "compact"
        assert policies[prefix + "leads"] == "delete"
    finally:
        admin.close()


def test_funnel_record_is_published_for_the_account(kafka_bootstrap, prefix, worker):
    acct = f"acct_{uuid.uuid4().hex[:6]}"
    produce(kafka_bootstrap, prefix, [
        event("lead.created", acct, {"lead_id": "l-1", "source": "marketing", "temperature": "warm", "owner_id": "r-1"}),
        event("lead.contacted", acct, {"lead_id": "l-1", "owner_id": "r-1"}, at="2026-11-22T10:20:00Z"),
    ])
    records = read_topic(kafka_bootstrap, prefix + "funnel",
                         until=lambda rs: any(r["key"] == acct and r["value"]["events"] == 2 for r in rs))
    latest = [r["value"] for r in records if r["key"] == acct][-1]
    assert latest["stage"] == "mql"
    assert latest["owner_id"] == "r-1" and latest["source"] == "marketing"
    assert latest["first_contact_at"] == "2026-11-22T10:20:00.000Z"


def test_the_worker_reports_how_late_its_event_loop_runs(worker):
    # baton.agents.loop_watch: probes every 0.25 s, a Prometheus histogram and the recent figures.
    import re
    import time
    import urllib.request

    def probes() -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        found = re.search(r"^baton_event_loop_lag_seconds_count (\S+)$", text, re.M)
        assert found, "no baton_event_loop_lag_seconds histogram at /metrics"
        return float(found.group(1))

    first = probes()
    time.sleep(1.2)
    assert probes() >= first + 3  # about 4 probes a second
    lag = worker.http_json("/metrics.json")["event_loop_lag_ms"]
    assert set(lag) == {"last", "max_10s"} and 0 <= lag["last"] <= lag["max_10s"]


def test_the_worker_reports_how_long_after_production_it_handles_records(kafka_bootstrap, prefix, worker):
    # baton.streams.intake_delay: from a record's Kafka timestamp to it being fetched, then its batch
    # being picked up and handled.
    import re
    import time
    import urllib.request

    from kafka import KafkaProducer

    def handled_batches() -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        found = re.search(r'^baton_intake_delay_seconds_count\{moment="handled"\} (\S+)$', text, re.M)
        return float(found.group(1)) if found else 0.0

    before = handled_batches()
    acct = f"acct_{uuid.uuid4().hex[:6]}"
    lead = event("lead.created", acct, {"lead_id": "l-1", "source": "marketing", "temperature": "warm"})
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:  # stamped a minute ago, as a record that waited in Kafka while the worker was behind
        producer.send(prefix + "leads", key=acct.encode(), value=json.dumps(lead).encode(),
                      timestamp_ms=int(time.time() * 1000) - 60_000)
        producer.flush(30)
    finally:
        producer.close()
    deadline = time.monotonic() + 30
    while handled_batches() <= before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert handled_batches() > before, "the batch's delay was not observed"
    delay = worker.http_json("/metrics.json")["intake_delay_ms"]
    assert 60_000 <= delay["fetched"]["max"] <= delay["picked_up"]["max"] <= delay["handled"]["max"] < 120_000
    # ...handed over by Baton's eager drain (on by default: Faust's consumer without four tasks per record).
    assert worker.http_json("/metrics.json")["eager_drain"] is True
    # ...to the intake through its feed (baton/streams/intake_feed.py), not a Faust stream.
    assert worker.http_json("/metrics.json")["intake_feed"] is True
    # ...and the consumer's state says it reads: every assigned partition fetched, the flow on.
    consumer = worker.http_json("/metrics.json")["consumer"]
    assert consumer["assigned"] > 0 and consumer["flow_active"] and consumer["app_flow_active"], consumer
    # (the tables' changelogs are paused once recovered: only a standby reads them on)
    assert not consumer["in_recovery"] and all("-changelog[" in tp for tp in consumer["not_fetched"]), consumer
    assert consumer["positions"] and all(isinstance(p, int) for p in consumer["positions"].values()), consumer
    assert worker.http_json("/metrics.json")["seek_back"] is True  # baton.streams.seek_back


def test_an_account_history_past_a_kafka_record_is_dead_lettered_and_not_counted(kafka_bootstrap, prefix, worker):
    # ~6.8 kB per lead.created (fields at their contract maximum): about 130 fit in the
    # 900,000 bytes an account's stored history may take; the rest are dead-lettered.
    acct = f"acct_{uuid.uuid4().hex[:6]}"
    sent = 150
    leads = [event("lead.created", acct, {"lead_id": f"l-{n:03d}-" + "i" * 240, "source": "marketing",
                                          "temperature": "warm", "contact_name": "n" * 2000,
                                          "contact_email": "e" * 2000, "company": "c" * 2000},
                   at=f"2026-11-22T10:{n // 60:02d}:{n % 60:02d}Z")
             for n in range(sent)]
    produce(kafka_bootstrap, prefix, leads)
    dead = read_topic(kafka_bootstrap, prefix + "deadletter",
                      until=lambda rs: any(r["key"] == acct for r in rs), settle=3.0)
    rejected = [r["value"] for r in dead if r["key"] == acct]
    assert rejected and all("history would grow" in r["reason"] for r in rejected)
    accepted = sent - len(rejected)
    assert 100 < accepted < sent
    funnel = read_topic(kafka_bootstrap, prefix + "funnel",
                        until=lambda rs: any(r["key"] == acct and r["value"]["events"] == accepted for r in rs),
                        settle=2.0)
    counts = [r["value"]["events"] for r in funnel if r["key"] == acct]
    # No published state ever counted a rejected event (they may share a batch with accepted ones).
    assert max(counts) == accepted and counts[-1] == accepted


def test_with_the_feed_off_the_intake_runs_as_a_faust_agent(kafka_bootstrap, tmp_path):
    # intake_feed=false: the fallback (a Faust agent and stream.take_events) handles records alike.
    other = f"g{uuid.uuid4().hex[:8]}."
    agent_worker = WorkerProcess(kafka_bootstrap, other, tmp_path, extra_env={"BATON_INTAKE_FEED": "false"}).start()
    try:
        assert agent_worker.http_json("/metrics.json")["intake_feed"] is False
        acct = f"acct_{uuid.uuid4().hex[:6]}"
        pay = event("payment.succeeded", acct, {"payment_id": "pay_9", "amount": 100, "currency": "USD"})
        produce(kafka_bootstrap, other, [("payments", acct.encode(), b"{not json"), pay, pay])
        notes = read_topic(kafka_bootstrap, other + "notifications", settle=1,
                           until=lambda rs: any(n["cause"]["event_id"] == pay["id"] for n in notifications_for(rs, acct)))
        assert [n["id"] for n in notifications_for(notes, acct)] == [f"payment-to-sales:{pay['id']}"]
        dead = read_topic(kafka_bootstrap, other + "deadletter", until=lambda rs: any(r["key"] == acct for r in rs))
        assert ["not valid JSON" in r["value"]["reason"] for r in dead if r["key"] == acct] == [True]
    finally:
        agent_worker.stop()


def test_handled_input_is_committed(kafka_bootstrap, prefix, worker):
    # The intake acknowledges a batch once Kafka took its output; Faust then commits it. A worker
    # that handled records but never acknowledged them would read them all again at each restart.
    acct = f"acct_{uuid.uuid4().hex[:6]}"
    pay = event("payment.succeeded", acct, {"payment_id": "pay_c", "amount": 300, "currency": "USD"})
    produce(kafka_bootstrap, prefix, [pay])
    read_topic(kafka_bootstrap, prefix + "notifications",
               until=lambda rs: any(n["cause"]["event_id"] == pay["id"] for n in notifications_for(rs, acct)))
    committed, ends = committed_and_ends(kafka_bootstrap, worker.app_id, prefix + "payments")
    assert committed == ends
