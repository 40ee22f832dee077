"""The demo feed: every event honours the contract and each account's story is in order."""

from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timezone

import pytest

from baton.demo.generator import generate
from baton.streams.events import EVENT_ADAPTER
from baton.streams.topics import TYPES_BY_TOPIC

START = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


def take(n: int, seed: int = 7, accounts: int = 200) -> list[tuple[str, str, bytes]]:
    return list(itertools.islice(generate(seed, accounts, START), n))


@pytest.fixture(scope="module")
def stream() -> list[tuple[str, str, bytes]]:
    return take(5000)


@pytest.fixture(scope="module")
def long_run() -> list[dict]:
    """About 18 simulated months: long enough for the rare events (refunds, churn)."""
    return [json.loads(v) for _, _, v in take(20000)]


def test_every_event_validates_and_sits_on_its_topic(stream):
    for topic, key, value in stream:
        event = EVENT_ADAPTER.validate_json(value)
        assert event.type in TYPES_BY_TOPIC[topic], (topic, value)
        assert isinstance(key, str) and isinstance(json.loads(value.decode("utf-8")), dict)


def test_ids_are_unique(stream):
    ids = Counter(json.loads(v)["id"] for _, _, v in stream)
    assert len(ids) == len(stream), ids.most_common(3)


def test_keys_are_account_ids_and_spend_keys_are_campaign_or_team(stream):
    for topic, key, value in stream:
        body = json.loads(value)
        if topic == "spend":
            assert "account_id" not in body
            assert key == (body["data"].get("campaign_id") or body["data"]["team"])
        else:
            assert key == body["account_id"]


def test_occurred_at_is_utc_z_and_advances_from_start(stream):
    times = [json.loads(v)["occurred_at"] for _, _, v in stream]
    assert all(t.endswith("Z") for t in times)
    parsed = [datetime.fromisoformat(t) for t in times]
    assert parsed[0] >= START
    assert parsed == sorted(parsed)
    assert parsed[-1] - parsed[0] > (parsed[1] - parsed[0])  # time really moves


def test_the_mix_is_realistic(long_run):
    events = long_run
    types = Counter(e["type"] for e in events)
    assert set(types) == {t for ts in TYPES_BY_TOPIC.values() for t in ts}
    created = [e["data"] for e in events if e["type"] == "lead.created"]
    temps = Counter(d["temperature"] for d in created)
    assert min(temps, key=temps.__getitem__) == "hot" and len(temps) == 3
    inbound = Counter(d["temperature"] for d in created if d["source"] != "sales")
    assert inbound["cold"] > inbound["warm"] > inbound["hot"] > 0
    assert set(Counter(d["source"] for d in created)) == {"marketing", "sales", "channel"}
    currencies = Counter(e["data"]["currency"] for e in events if e["type"] == "deal.created")
    assert currencies.most_common(1)[0][0] == "USD" and {"EUR", "GBP"} <= set(currencies)
    companies = {e["data"]["company"] for e in events if "company" in e["data"]}
    assert any("&" in c for c in companies) and any("<" in c for c in companies)
    owners = {e["data"]["owner_id"] for e in events if e["type"] == "lead.assigned"}
    assert owners == {f"r-{i}" for i in range(1, 9)}


def test_some_hot_leads_breach_their_follow_up_window(long_run):
    events = long_run
    created, contacted = {}, {}
    for e in events:
        if e["type"] == "lead.created" and e["data"]["temperature"] == "hot":
            created[e["data"]["lead_id"]] = datetime.fromisoformat(e["occurred_at"])
        elif e["type"] == "lead.contacted" and e["data"]["lead_id"] in created:
            contacted[e["data"]["lead_id"]] = datetime.fromisoformat(e["occurred_at"])
    delays = [(contacted[lead] - created[lead]).total_seconds() for lead in contacted]
    assert any(d <= 300 for d in delays) and any(d > 300 for d in delays)
    assert len(contacted) < len(created)  # and some are never contacted


@pytest.mark.parametrize("accounts", [1, 20, 200])
def test_each_account_lifecycle_is_in_order(accounts):
    """Per lead, deal and payment, events follow the funnel; nothing is billed after churn."""
    lead_state: dict[str, str] = {}
    deal_state: dict[str, str] = {}
    won_deals: set[str] = set()
    paid: set[str] = set()
    paying_since_churn: dict[str, bool] = defaultdict(lambda: True)
    seen_account: set[str] = set()
    lead_next = {
        "lead.assigned": {"created", "assigned"},
        "lead.contacted": {"assigned"},
        "lead.qualified": {"contacted"},
        "lead.disqualified": {"assigned", "contacted"},
    }
    last_time: dict[str, datetime] = {}

    for topic, key, value in take(5000, seed=11, accounts=accounts):
        e = json.loads(value)
        t, d, acct = e["type"], e["data"], e.get("account_id")
        at = datetime.fromisoformat(e["occurred_at"])
        if acct is None:
            continue
        if acct not in seen_account:
            assert t in {"signup.created", "lead.created"}, f"{acct} starts with {t}"
            seen_account.add(acct)
        for entity in (d.get("lead_id"), d.get("deal_id")):
            if entity in last_time:
                assert at > last_time[entity], (entity, t)  # strictly later than its previous step
        if t == "lead.created":
            assert d["lead_id"] not in lead_state
            lead_state[d["lead_id"]] = "created"
        elif t in lead_next:
            assert lead_state.get(d["lead_id"]) in lead_next[t], (t, lead_state.get(d["lead_id"]))
            lead_state[d["lead_id"]] = t.split(".")[1]
        elif t == "deal.created":
            assert lead_state.get(d["lead_id"]) == "qualified"
            assert d["deal_id"] not in deal_state
            deal_state[d["deal_id"]] = "open"
        elif t == "deal.stage_changed":
            assert deal_state.get(d["deal_id"]) == "open"
        elif t in {"deal.won", "deal.lost"}:
            assert deal_state.get(d["deal_id"]) == "open"
            deal_state[d["deal_id"]] = t
            if t == "deal.won":
                won_deals.add(d["deal_id"])
                paying_since_churn[acct] = True
        elif t == "signup.created":
            paying_since_churn[acct] = True
        elif t in {"payment.succeeded", "payment.failed", "payment.refunded"}:
            assert paying_since_churn[acct], f"{acct} billed after churn"
            if d.get("deal_id"):
                assert d["deal_id"] in won_deals
            if t == "payment.succeeded":
                paid.add(d["payment_id"])
            if t == "payment.refunded":
                assert d["payment_id"] in paid
        elif t == "subscription.cancelled":
            assert paying_since_churn[acct]
            paying_since_churn[acct] = False
        for entity in (d.get("lead_id"), d.get("deal_id")):
            if entity:
                last_time[entity] = at


def test_same_seed_same_stream_other_seed_other_stream():
    assert take(2000, seed=3) == take(2000, seed=3)
    assert take(200, seed=3) != take(200, seed=4)


def test_no_seed_still_gives_unique_ids_across_runs():
    a = {json.loads(v)["id"] for _, _, v in itertools.islice(generate(None, 50), 100)}
    b = {json.loads(v)["id"] for _, _, v in itertools.islice(generate(None, 50), 100)}
    assert len(a) == 100 and not a & b


# --- against a real broker -------------------------------------------------------

@pytest.fixture
def demo_bootstrap(request) -> str:
    """The session broker when conftest provides ``kafka_bootstrap``, else KAFKA_BOOTSTRAP_SERVERS."""
    try:
        return request.getfixturevalue("kafka_bootstrap")
    except pytest.FixtureLookupError:
        pass
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not servers:
        pytest.skip("needs a Kafka broker: set KAFKA_BOOTSTRAP_SERVERS (no kafka_bootstrap fixture yet)")
    return servers


@pytest.mark.kafka
def test_run_demo_produces_to_the_input_topics_partitioned_by_murmur2(demo_bootstrap):
    from kafka import KafkaConsumer, TopicPartition
    from kafka.partitioner.default import murmur2

    from baton.demo.producer import run_demo
    from baton.settings import Settings
    from baton.streams.topics import TopicNames

    settings = Settings(bootstrap_servers=demo_bootstrap, topic_prefix=f"demo{uuid.uuid4().hex[:8]}.", partitions=3)
    names = TopicNames(settings.topic_prefix)
    sent = run_demo(settings, rate=0, count=400, seed=5, accounts=30)
    assert sent == 400

    consumer = KafkaConsumer(bootstrap_servers=demo_bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(t, p) for t in names.inputs for p in consumer.partitions_for_topic(t) or ()]
        assert len(partitions) == 5 * 3, "every input topic exists with settings.partitions partitions"
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        records: list = []
        deadline = time.monotonic() + 30
        while len(records) < 400 and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        for batch in consumer.poll(timeout_ms=1000).values():  # anything beyond the 400 would show here
            records.extend(batch)
    finally:
        consumer.close()

    assert len(records) == 400
    expected = {json.loads(v)["id"]: (t, k) for t, k, v in itertools.islice(generate(5, 30), 400)}
    got = {}
    for r in records:
        event = EVENT_ADAPTER.validate_json(r.value)
        got[event.id] = (names.short(r.topic), r.key.decode())
        assert r.partition == (murmur2(r.key) & 0x7FFFFFFF) % 3
    assert got == expected


@pytest.mark.kafka
def test_run_demo_paces_to_the_rate(demo_bootstrap):
    from baton.demo.producer import run_demo
    from baton.settings import Settings

    settings = Settings(bootstrap_servers=demo_bootstrap, topic_prefix=f"demo{uuid.uuid4().hex[:8]}.", partitions=1)
    run_demo(settings, rate=0, count=1, seed=1, accounts=5)  # topics and connections out of the timing
    began = time.monotonic()
    assert run_demo(settings, rate=100, count=60, seed=2, accounts=5) == 60
    assert 0.55 <= time.monotonic() - began < 10


def test_run_demo_says_clearly_when_the_broker_is_unreachable(monkeypatch):
    import socket

    from baton.demo import producer
    from baton.settings import Settings

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(producer, "BOOTSTRAP_TIMEOUT_MS", 1500)
    with pytest.raises(producer.BrokerUnreachable, match=f"cannot reach Kafka at 127.0.0.1:{port}"):
        producer.run_demo(Settings(bootstrap_servers=f"127.0.0.1:{port}"), rate=0, count=5, seed=1, accounts=5)


def test_demo_feed_never_stamps_an_event_after_now():
    import itertools
    from datetime import datetime, timedelta, timezone

    import orjson

    from baton.demo.producer import _not_after_now

    started = datetime.now(timezone.utc)
    future_start = started + timedelta(days=30)
    stamped = list(itertools.islice(_not_after_now(generate(5, 20, start=future_start)), 300))
    times = [datetime.fromisoformat(orjson.loads(v)["occurred_at"].replace("Z", "+00:00")) for _, _, v in stamped]
    assert all(t <= datetime.now(timezone.utc) for t in times)
    assert times == sorted(times)  # clamping keeps the stream's order
