"""Notifications reach real peers through Kafka: Slack (its HTTP contract) and SMTP (aiosmtpd)."""

from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest

from kafka_io import committed_and_ends, event, produce, read_topic
from peers import slack_env, smtp_env
from polling import wait_for
from worker_process import WorkerProcess

pytestmark = pytest.mark.kafka

EVIL = "Acme <!channel> <script>alert(1)</script> & Co"


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"d{uuid.uuid4().hex[:8]}."


def delivery_env(slack, smtp) -> dict[str, str]:
    return {**slack_env(slack), **smtp_env(smtp),
            "BATON_ROUTING__TEAMS__SALES__EMAIL": '["sales@example.com"]',
            # One message per notification (no rate limit, no digest) so arrivals can be counted by id.
            "BATON_DELIVERY__RATE_LIMITS__SLACK": "0", "BATON_DELIVERY__RATE_LIMITS__EMAIL": "0",
            "BATON_DELIVERY__DIGEST_THRESHOLD": "100000",
            "BATON_DELIVERY__RETRY__INITIAL_BACKOFF_SECONDS": "0.2",
            "BATON_DELIVERY__RETRY__MAX_BACKOFF_SECONDS": "1", "BATON_DELIVERY__RETRY__MAX_ATTEMPTS": "100"}


@pytest.fixture(scope="module")
def worker(kafka_bootstrap, prefix, slack, smtp, tmp_path_factory):
    proc = WorkerProcess(kafka_bootstrap, prefix, tmp_path_factory.mktemp("worker"),
                         extra_env=delivery_env(slack, smtp)).start()
    yield proc
    proc.stop()




def payments(n: int, tag: str) -> list[dict]:
    return [event("payment.succeeded", f"acct_{tag}_{i}", {"payment_id": f"pay_{tag}_{i}", "amount": 1000 + i,
                                                             "currency": "USD"}) for i in range(n)]


def test_payment_reaches_slack_and_email_escaped(kafka_bootstrap, prefix, worker, slack, smtp):
    acct = f"acct_{uuid.uuid4().hex[:6]}"
    signup = event("signup.created", acct, {"company": EVIL, "email": "ap@acme.example"})
    pay = event("payment.succeeded", acct, {"payment_id": "pay_x", "amount": 1200000, "currency": "USD"},
                at="2026-11-22T10:05:00Z")
    produce(kafka_bootstrap, prefix, [signup, pay])
    note_id = f"payment-to-sales:{pay['id']}"
    wait_for(lambda: note_id in slack.ids_received() and any(
        "$12,000.00" in (m["Subject"] or "") for m in smtp.messages))

    [message] = [b for b in slack.bodies() if note_id in b["metadata"]["event_payload"]["ids"]]
    assert message["channel"] == "#sales"
    raw = str(message)
    assert "<!channel>" not in raw and "<script>" not in raw
    assert "&lt;!channel&gt;" in raw and "&amp; Co" in raw

    [mail] = [m for m in smtp.messages if "$12,000.00" in (m["Subject"] or "")]
    assert mail["To"] == "sales@example.com"
    assert mail.is_multipart()
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in mail.walk() if not p.is_multipart()}
    assert {"text/plain", "text/html"} <= parts.keys()
    assert "<script>" not in parts["text/html"] and "&lt;script&gt;" in parts["text/html"]
    assert EVIL in parts["text/plain"]  # plain text needs no escaping

    deliveries = read_topic(kafka_bootstrap, prefix + "deliveries", until=lambda rs: {
        r["value"]["channel"] for r in rs if r["key"] == note_id} >= {"slack:#sales", "email:sales@example.com"})
    statuses = {r["value"]["channel"]: r["value"]["status"] for r in deliveries if r["key"] == note_id}
    assert statuses == {"slack:#sales": "delivered", "email:sales@example.com": "delivered"}


def test_what_the_worker_wrote_is_handed_over_once_and_its_read_back_copy_only_acknowledged(
        kafka_bootstrap, prefix, worker, slack):
    before = worker.http_json("/metrics.json")
    batch = payments(30, uuid.uuid4().hex[:4])
    ids = [f"payment-to-sales:{e['id']}" for e in batch]
    produce(kafka_bootstrap, prefix, batch)
    wait_for(lambda: set(ids) <= set(slack.ids_received()), timeout=60)

    # One delivery record per notification and channel: the copy read back from
    # m2c.notifications went through no second delivery (no skipped-duplicate record).
    deliveries = read_topic(kafka_bootstrap, prefix + "deliveries", until=lambda rs: {
        (r["key"], r["value"]["channel"]) for r in rs} >= {(i, c) for i in ids for c in ("slack:#sales", "email:sales@example.com")})
    statuses = Counter((r["key"], r["value"]["status"]) for r in deliveries if r["key"] in ids)
    assert statuses == Counter({(i, "delivered"): 2 for i in ids}), statuses
    assert Counter(slack.ids_received())[ids[0]] == 1

    after = worker.http_json("/metrics.json")
    written = after["notifications"] - before["notifications"]
    handed = after["delivery"]["handed_over"] - before["delivery"]["handed_over"]
    # All handed over in the process that wrote them: one worker delivers every partition, the
    # queue has room, and the hand-over runs before the producer sends the batch.
    assert written >= len(ids) and handed == written, (written, handed)

    # The copies read back were acknowledged: the group's offsets reach the end of m2c.notifications.
    committed, ends = committed_and_ends(kafka_bootstrap, worker.app_id, prefix + "notifications")
    assert committed == ends


def test_two_workers_and_a_rebalance_mid_stream_deliver_every_payment_once(kafka_bootstrap, slack, smtp, tmp_path):
    # Each worker hands over only what it delivers (Baton's topics share one partition count,
    # so that is what its own intake wrote), and nothing while the group rebalances: a
    # notification handed over while another worker delivers its partition would go out twice.
    own_prefix = f"t{uuid.uuid4().hex[:8]}."
    first = WorkerProcess(kafka_bootstrap, own_prefix, tmp_path / "a", extra_env=delivery_env(slack, smtp))
    second = WorkerProcess(kafka_bootstrap, own_prefix, tmp_path / "b", extra_env=delivery_env(slack, smtp),
                           app_id=first.app_id)
    batch = payments(120, uuid.uuid4().hex[:4])
    ids = [f"payment-to-sales:{e['id']}" for e in batch]
    try:
        first.start()
        produce(kafka_bootstrap, own_prefix, batch[:60])
        wait_for(lambda: len(set(ids) & set(slack.ids_received())) >= 20, timeout=60)
        second.start()  # the group rebalances while the first worker is delivering
        produce(kafka_bootstrap, own_prefix, batch[60:])
        wait_for(lambda: set(ids) <= set(slack.ids_received()), timeout=120)
        time.sleep(2)
        counts = Counter(slack.ids_received())
        assert all(counts[i] == 1 for i in ids), {i: counts[i] for i in ids if counts[i] != 1}
        handed = [w.http_json("/metrics.json")["delivery"]["handed_over"] for w in (first, second)]
        assert all(h > 0 for h in handed), handed  # both delivered a share of what they wrote themselves
    finally:
        second.stop()
        first.stop()


def test_slack_down_for_a_while_then_everything_arrives_once(kafka_bootstrap, prefix, worker, slack):
    slack.call(slack.server.go_down())
    batch = payments(8, uuid.uuid4().hex[:4])
    produce(kafka_bootstrap, prefix, batch)
    time.sleep(6)
    slack.call(slack.server.come_back())
    ids = [f"payment-to-sales:{e['id']}" for e in batch]
    wait_for(lambda: set(ids) <= set(slack.ids_received()), timeout=90)
    counts = Counter(slack.ids_received())
    assert all(counts[i] == 1 for i in ids), {i: counts[i] for i in ids}


def test_restart_mid_stream_resends_nothing_already_delivered(kafka_bootstrap, prefix, worker, slack):
    batch = payments(40, uuid.uuid4().hex[:4])
    ids = [f"payment-to-sales:{e['id']}" for e in batch]
    produce(kafka_bootstrap, prefix, batch[:20])
    wait_for(lambda: len(set(ids) & set(slack.ids_received())) >= 10)
    worker.stop()  # SIGTERM in the middle of the stream
    produce(kafka_bootstrap, prefix, batch[20:])
    worker.start()
    wait_for(lambda: set(ids) <= set(slack.ids_received()), timeout=120)
    time.sleep(2)
    counts = Counter(slack.ids_received())
    assert all(counts[i] == 1 for i in ids), {i: counts[i] for i in ids if counts[i] != 1}


def test_ledger_skips_a_notification_id_already_delivered_even_after_restart(kafka_bootstrap, prefix, worker, slack):
    import json

    note_id = f"payment-to-sales:evt_{uuid.uuid4().hex[:8]}"
    record = {"id": note_id, "rule": "payment-to-sales", "team": "sales", "severity": "info",
              "account_id": "acct_ledger", "title": "Ledger paid $1.00", "text": "Payment p of $1.00 from Ledger.",
              "channels": ["slack:#sales"], "cause": {"event_id": note_id.split(":")[1], "type": "payment.succeeded"},
              "created_at": "2026-11-22T10:04:00.000Z", "facts": {"company": "Ledger", "money": "$1.00"}}
    raw = ("notifications", b"acct_ledger", json.dumps(record).encode())
    produce(kafka_bootstrap, prefix, [raw])
    wait_for(lambda: note_id in slack.ids_received())
    produce(kafka_bootstrap, prefix, [raw])  # the same notification again, e.g. a replay upstream
    worker.stop()
    worker.start()
    produce(kafka_bootstrap, prefix, [raw])  # and again after a restart: the ledger was recovered
    # A marker behind it in the same partition: once it is delivered, everything before it was handled.
    marker_id = f"payment-to-sales:evt_{uuid.uuid4().hex[:8]}"
    marker = {**record, "id": marker_id}
    produce(kafka_bootstrap, prefix, [("notifications", b"acct_ledger", json.dumps(marker).encode())])
    wait_for(lambda: marker_id in slack.ids_received())
    deliveries = read_topic(kafka_bootstrap, prefix + "deliveries", until=lambda rs: [
        r["value"]["status"] for r in rs if r["key"] == note_id].count("skipped-duplicate") >= 2, timeout=60)
    statuses = [r["value"]["status"] for r in deliveries if r["key"] == note_id]
    # Sent once. Skipped at least for the two copies; a copy read again after the stop
    # (its offset not yet committed) is skipped too, which is the ledger doing its job.
    assert statuses.count("delivered") == 1 and statuses.count("skipped-duplicate") >= 2, statuses
    assert Counter(slack.ids_received())[note_id] == 1
