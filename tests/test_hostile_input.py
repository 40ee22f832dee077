"""Hostile input: whatever producers send, the worker keeps going and accounts for every record.

Hypothesis generates one big batch (a single example: one worker, one batch,
no shrinking) of records for every input topic: random bytes, huge strings,
deep JSON, wrong types, tricky unicode, far-future dates, tombstones, wrong
keys, duplicate ids and valid-looking events with one broken field,
interleaved with valid events (realistic ones from ``baton.demo.generator``
and generated ones with unicode names, extra fields and far-past dates).

Each record is produced knowing what the contract says must happen to it:

- rejected: in ``m2c.deadletter`` with a non-empty reason, matched by
  topic/partition/offset, keyed like the input;
- valid: processed (counted once in ``events_valid``; a ``payment.succeeded``
  gives exactly one ``payment-to-sales`` notification, which reaches Slack);
- a duplicate id of the same account: no dead letter, no second notification.

And the worker is still alive afterwards.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from baton.demo.generator import generate
from peers import slack_env
from polling import eventually
from worker_process import WorkerProcess

pytestmark = pytest.mark.kafka

INPUT_TOPICS = ("signups", "leads", "deals", "payments", "spend")
NOW = datetime.now(timezone.utc)
# Kafka's default limits: the broker's message.max.bytes (1 MiB + 12) and the producers' max request
# size (kafka-python: 1 MiB; Faust, which writes Baton's output: 1,000,000 bytes).
MIB = 1024 * 1024


@dataclass(eq=False)
class Rec:
    """One record to produce and what must become of it."""

    topic: str  # short name: "payments"
    key: bytes | None
    value: bytes | None
    expect: str  # "dead" | "valid" | "duplicate"
    kind: str  # what hostile thing it is, for messages
    event_id: str | None = None
    type: str | None = None
    where: tuple[str, int, int] | None = None  # (topic, partition, offset) once produced

    def __repr__(self) -> str:  # hypothesis prints the whole batch on failure: keep it readable
        size = "null" if self.value is None else f"{len(self.value)}B"
        return f"Rec({self.expect} {self.kind!r} on {self.topic} key={self.key!r:.40} value={size} at={self.where})"


# --- building events ------------------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    m = moment.astimezone(timezone.utc)
    return f"{m.year:04d}-{m:%m-%dT%H:%M:%S}Z"


def envelope(type_: str, account: str | None, data: dict[str, Any], at: str | None = None,
             id: str | None = None) -> dict[str, Any]:
    ev = {"id": id or f"evt_h_{uuid.uuid4().hex[:12]}", "type": type_,
          "occurred_at": at or iso(NOW - timedelta(days=3)), "data": data, "source": "hypothesis"}
    if account is not None:
        ev["account_id"] = account
    return ev


def base_event(kind: str, account: str) -> dict[str, Any]:
    """A valid event of each input topic's main type, for mutation."""
    if kind == "signups":
        return envelope("signup.created", account, {"company": "Hostile Test Co", "email": "ap@hostile.example"})
    if kind == "leads":
        return envelope("lead.created", account, {"lead_id": f"l-{account}", "source": "marketing",
                                                  "temperature": "warm"})
    if kind == "deals":
        return envelope("deal.created", account, {"deal_id": f"d-{account}", "amount": 100000, "currency": "USD",
                                                  "owner_id": "r-1"})
    if kind == "payments":
        return envelope("payment.succeeded", account, {"payment_id": f"p-{uuid.uuid4().hex[:8]}", "amount": 4200,
                                                       "currency": "USD"})
    return envelope("spend.recorded", None, {"spend_id": f"s-{uuid.uuid4().hex[:8]}", "amount": 5000,
                                              "currency": "USD", "team": "marketing", "campaign_id": "c-h"})


def key_of(ev: dict[str, Any]) -> bytes:
    if ev["type"] == "spend.recorded":
        return (ev["data"].get("campaign_id") or ev["data"]["team"]).encode()
    return ev["account_id"].encode()


def dumps(ev: Any, ascii_only: bool = False) -> bytes:
    return json.dumps(ev, ensure_ascii=ascii_only).encode("utf-8")


# --- strategies ----------------------------------------------------------------------------------------------

topics = st.sampled_from(INPUT_TOPICS)
accounts = st.builds(lambda: f"acct_h_{uuid.uuid4().hex[:10]}")
# Any unicode text except lone surrogates (not encodable as UTF-8): RTL marks, NUL, emoji, combining marks...
texts = st.text(min_size=1, max_size=40)
# Integers within 64 bits: a larger one is test_a_valid_event_with_a_huge_integer_extra_field_is_kept_in_state's.
json_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
                | st.floats(allow_nan=False, allow_infinity=False) | texts)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(texts, inner, max_size=4), max_leaves=12)
# A value of the wrong JSON type for a string, number or object field.
not_a_string = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.lists(texts, max_size=2)
not_an_amount = (st.none() | st.booleans() | st.floats(allow_nan=False) | st.just(1.0)
                 | st.integers(max_value=-1) | st.integers(min_value=10**15 + 1) | st.integers().map(str)
                 | st.lists(st.integers(), max_size=2))


def dead_letter_size(key: bytes | None, value: bytes | None) -> int:
    """About how big the dead letter of a record is: its value as JSON text, base64 too if not UTF-8."""
    raw = value or b""
    try:
        text, b64 = raw.decode("utf-8"), 0
    except UnicodeDecodeError:
        text, b64 = raw.decode("utf-8", errors="replace"), (len(raw) + 2) // 3 * 4
    return len(json.dumps(text, ensure_ascii=False).encode()) + b64 + 2 * len(key or b"") + 2000


def expansion(char: str) -> int:
    """Bytes one ``char`` of a string field takes in a dead letter: JSON-escaped in the value, then again."""
    inner = json.dumps(char * 100, ensure_ascii=False)[1:-1]
    outer = json.dumps(inner, ensure_ascii=False)[1:-1]
    return max(1, len(outer.encode()) // 100)


# Rejected records whose dead letter stays well under the 1,000,000 bytes Faust's producer sends:
# bigger ones are test_rejected_records_near_kafkas_size_limit_are_dead_lettered's.
DEAD_LETTER_BUDGET = 600_000


@st.composite
def random_bytes(draw) -> Rec:
    value = draw(st.binary(min_size=0, max_size=300))
    if draw(st.booleans()):  # a bigger lump, non-UTF-8 most likely
        lump = random.Random(draw(st.integers(0, 2**64)))  # one choice for hypothesis, not one per byte
        value += lump.randbytes(draw(st.integers(1_000, 60_000)))
    key = draw(st.none() | st.binary(max_size=20) | accounts.map(str.encode))
    assert dead_letter_size(key, value) < 1_000_000
    return Rec(draw(topics), key, value, "dead", "random bytes")


@st.composite
def huge_string(draw) -> Rec:
    """A contract event with one string field far over the contract's limits (2,000 / 256 chars)."""
    topic = draw(topics)
    account = draw(accounts)
    ev = base_event(topic, account)
    key = key_of(ev)  # before the change (a spend's key is its campaign, which may be the huge field)
    char = draw(st.sampled_from(["x", "é", "€", "𝄞", "\\", '"', "\u0000", "<"]))
    size = min(draw(st.integers(3_000, 300_000)), DEAD_LETTER_BUDGET // expansion(char))
    big = char * size
    field = draw(st.sampled_from(["id", "source", "data-text", "data-id"]))
    if field == "id":
        ev["id"] = big
    elif field == "source":
        ev["source"] = big
    elif field == "data-text":
        text_field = {"signups": "company", "leads": "contact_name", "deals": "owner_id", "payments": "invoice_id",
                      "spend": "campaign_id"}[topic]
        ev["data"][text_field] = big
    else:
        id_field = {"signups": "campaign_id", "leads": "lead_id", "deals": "deal_id", "payments": "payment_id",
                    "spend": "spend_id"}[topic]
        ev["data"][id_field] = big
    value = dumps(ev)
    assert dead_letter_size(key, value) < 1_000_000
    return Rec(topic, key, value, "dead", f"huge {field} ({size} x {char!r}, {len(value)} bytes)")


@st.composite
def deep_json(draw) -> Rec:
    shape = draw(st.sampled_from(["array", "object", "inside-data"]))
    per_level = {"array": 2, "object": 8, "inside-data": 2}[shape]  # dead-letter bytes per level
    depth = min(draw(st.integers(300, 200_000)), DEAD_LETTER_BUDGET // per_level)
    if shape == "array":
        value = b"[" * depth + b"]" * depth
    elif shape == "object":
        value = b'{"a":' * depth + b"1" + b"}" * depth
    else:
        topic_ev = base_event("payments", draw(accounts))
        head = dumps(topic_ev)[:-2]  # ...}} -> open the data object again
        value = head + b', "deep": ' + b"[" * depth + b"]" * depth + b"}}"
    account = draw(accounts)
    assert dead_letter_size(account.encode(), value) < 1_000_000
    return Rec(draw(topics), account.encode(), value, "dead", f"deep JSON {shape} ({depth} levels)")


BREAKS: dict[str, Callable[[dict, Any], None]] = {}


def breaks(name: str):
    def register(fn):
        BREAKS[name] = fn
        return fn
    return register


@st.composite
def one_broken_field(draw) -> Rec:
    """A valid-looking event of the topic's type with exactly one thing wrong."""
    topic = draw(topics)
    ev = base_event(topic, draw(accounts))
    key = key_of(ev)
    choice = draw(st.sampled_from([
        "missing field", "wrong type", "bad amount", "bad currency", "bad time", "unknown type", "bad enum",
        "empty id", "long id", "data not an object", "far future", "lone surrogate", "invalid utf-8 in string",
        "not an object",
    ]))
    value: bytes | None = None
    if choice == "missing field":
        required = ["id", "type", "occurred_at", "data"] + ([] if topic == "spend" else ["account_id"])
        required += [f"data.{f}" for f in {"signups": ["company", "email"], "leads": ["lead_id", "source"],
                                           "deals": ["deal_id", "amount", "currency", "owner_id"],
                                           "payments": ["payment_id", "amount", "currency"],
                                           "spend": ["spend_id", "amount", "currency", "team"]}[topic]]
        field = draw(st.sampled_from(required))
        if field.startswith("data."):
            del ev["data"][field[5:]]
        else:
            del ev[field]
    elif choice == "wrong type":
        field = draw(st.sampled_from(["id", "occurred_at", "source"] + ([] if topic == "spend" else ["account_id"])))
        ev[field] = draw(not_a_string.filter(lambda v: v is not None or field != "source"))
    elif choice == "bad amount":
        if topic in ("signups", "leads"):
            ev = base_event("payments", ev["account_id"])
            topic = "payments"
        ev["data"]["amount"] = draw(not_an_amount)
    elif choice == "bad currency":
        if topic in ("signups", "leads"):
            ev = base_event("deals", ev["account_id"])
            topic = "deals"
        ev["data"]["currency"] = draw(st.sampled_from(["usd", "US", "USDX", "", "U$D", "€", 840, None, "ÜSD"]))
    elif choice == "bad time":
        ev["occurred_at"] = draw(st.sampled_from([
            "2026-11-22T10:04:00", "2026-11-22", "yesterday", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
            "2026-11-22T25:00:00Z", "0000-01-01T00:00:00Z", "2026-11-22T10:04:00+25:00", "",
            "10000-01-01T00:00:00Z", "2026-11-22 10:04:00", "NaN"]))
    elif choice == "unknown type":
        ev["type"] = draw(st.sampled_from(["payment.exploded", "", "PAYMENT.SUCCEEDED", "payment", "signup.created "])
                          | texts.filter(lambda t: "." not in t))
    elif choice == "bad enum":
        if topic == "leads":
            ev["data"][draw(st.sampled_from(["source", "temperature"]))] = draw(st.sampled_from(
                ["lukewarm", "HOT", "", "partner", "hot "]))
        elif topic == "spend":
            ev["data"][draw(st.sampled_from(["team", "period"]))] = draw(st.sampled_from(
                ["finance", "Marketing", "2026-13", "2026-1", "26-11"]))
        else:
            ev = base_event("leads", ev.get("account_id") or draw(accounts))
            topic = "leads"
            ev["data"]["temperature"] = "tepid"
    elif choice == "empty id":
        ev["id"] = ""
    elif choice == "long id":
        ev["id"] = "e" * draw(st.integers(257, 2000))
    elif choice == "data not an object":
        ev["data"] = draw(st.none() | st.lists(st.integers(), max_size=3) | texts | st.integers())
    elif choice == "far future":
        years = draw(st.integers(0, 7900))
        days = draw(st.integers(2 if years == 0 else 0, 364))
        ev["occurred_at"] = iso(NOW.replace(microsecond=0) + timedelta(days=365 * years + days))
    elif choice == "lone surrogate":
        value = dumps(ev, ascii_only=True).replace(b'"source": "hypothesis"', b'"source": "bad \\ud800 text"')
    elif choice == "invalid utf-8 in string":
        value = dumps(ev).replace(b'"source": "hypothesis"', b'"source": "bad \xff\xfe text"')
    elif choice == "not an object":
        value = draw(st.sampled_from([b"123", b'"a string"', b"null", b"[]", b"true", b"", b"  ", b"NaN",
                                      b"[" + dumps(ev) + b"]"]))
    return Rec(topic, key, value if value is not None else dumps(ev), "dead", f"broken: {choice}")


@st.composite
def wrong_key(draw) -> Rec:
    """A valid account event whose record key is not its account_id (so its state would split)."""
    topic = draw(st.sampled_from(INPUT_TOPICS[:4]))
    ev = base_event(topic, draw(accounts))
    key = draw(st.none() | st.just(b"") | accounts.map(str.encode) | st.binary(min_size=1, max_size=12)
               | st.just(ev["account_id"].encode() + b" "))
    return Rec(topic, key, dumps(ev), "dead", f"wrong key {key!r}")


@st.composite
def tombstone(draw) -> Rec:
    return Rec(draw(topics), draw(accounts).encode(), None, "dead", "tombstone")


@st.composite
def valid_generated(draw) -> list[Rec]:
    """Valid events built to be awkward: unicode everywhere, extra fields, far-past dates, big extras."""
    # Unicode in the account id too; the uuid keeps each generated account apart.
    account = f"acct_{uuid.uuid4().hex[:8]}_" + draw(st.text(max_size=30))
    when = draw(st.sampled_from(["far past", "recent", "epoch"]))
    if when == "far past":
        at = iso(datetime(draw(st.integers(2, 1969)), draw(st.integers(1, 12)), draw(st.integers(1, 28)),
                          tzinfo=timezone.utc))
    elif when == "epoch":
        at = "1970-01-01T00:00:00Z"
    else:
        at = iso(NOW - timedelta(seconds=draw(st.integers(60, 400 * 86400))))
    offset = draw(st.sampled_from(["Z", "+00:00", "+05:45", "-12:00", "+14:00"]))
    at = at[:-1] + offset if offset != "Z" and at.endswith("Z") else at
    signup = envelope("signup.created", account, {
        "company": draw(st.text(min_size=1, max_size=draw(st.sampled_from([30, 2000])))),
        "email": draw(texts), "plan": draw(st.none() | texts)}, at=at)
    payment = envelope("payment.succeeded", account, {
        "payment_id": draw(st.text(min_size=1, max_size=256)), "amount": draw(st.integers(0, 10**15)),
        "currency": draw(st.sampled_from(["USD", "EUR", "JPY", "KWD", "XXX", "BHD"])),
        "invoice_id": draw(st.none() | texts)}, at=at)
    extras = draw(st.dictionaries(texts.filter(lambda k: k not in payment["data"]), json_values, max_size=3))
    payment["data"].update(extras)
    if draw(st.integers(0, 9)) == 0:  # now and then a big, allowed extra field (one per account)
        payment["data"]["attachment"] = "z" * draw(st.integers(10_000, 200_000))
    payment[draw(texts.filter(lambda k: k not in payment))] = draw(json_values)  # an extra envelope field
    # Drop None optional fields half the time (null and absent are both allowed).
    for ev in (signup, payment):
        if draw(st.booleans()):
            ev["data"] = {k: v for k, v in ev["data"].items() if v is not None}
    ascii_only = draw(st.booleans())
    return [Rec("signups", account.encode(), dumps(signup, ascii_only), "valid", "valid unicode signup",
                signup["id"], signup["type"]),
            Rec("payments", account.encode(), dumps(payment, ascii_only), "valid", f"valid payment ({when})",
                payment["id"], payment["type"])]


def realistic(n: int, seed: int) -> list[Rec]:
    start = NOW - timedelta(days=200)
    out = []
    for topic, key, value in islice(generate(seed, 60, start), n):
        ev = json.loads(value)
        out.append(Rec(topic, key.encode(), value, "valid", "realistic", ev["id"], ev["type"]))
    return out


@st.composite
def batches(draw) -> list[Rec]:
    # Hypothesis tries the simplest possible example first (every size at its minimum, every
    # choice the first): with one example that would be all there is. Refuse it, so the one
    # example run is a random one.
    assume(draw(st.integers(0, 255)) != 0)
    hostile: list[Rec] = []
    for strategy, count in ((random_bytes(), 25), (huge_string(), 15), (deep_json(), 10), (one_broken_field(), 80),
                            (wrong_key(), 15), (tombstone(), 5)):
        hostile += draw(st.lists(strategy, min_size=count, max_size=count))
    valid = realistic(400, seed=draw(st.integers(1, 10**6)))
    for pair in draw(st.lists(valid_generated(), min_size=25, max_size=25)):
        valid += pair
    rng = random.Random(draw(st.integers(0, 2**64)))  # the interleaving: one choice, not one per record
    records = hostile + valid
    rng.shuffle(records)
    # Keep each account's generated signup before its payment (names in notifications), and the
    # realistic stream in its own order: shuffle positions, not the order within an account.
    by_account: dict[bytes | None, list[Rec]] = {}
    for r in records:
        if r.expect == "valid":
            by_account.setdefault(r.key, []).append(r)
    for recs in by_account.values():
        ordered = sorted(recs, key=lambda r: (valid.index(r)))
        slots = sorted(records.index(r) for r in recs)
        for slot, r in zip(slots, ordered):
            records[slot] = r
    # Duplicate ids: valid events sent again later, identical or with other content (first seen wins).
    for original in rng.sample([r for r in records if r.expect == "valid"], 30):
        at = records.index(original)
        copy_value = original.value
        if rng.random() < 0.5:
            ev = json.loads(original.value)
            ev["source"] = "a different record with a reused id"
            copy_value = dumps(ev)
        records.insert(rng.randint(at + 1, len(records)), Rec(original.topic, original.key, copy_value,
                                                              "duplicate", "duplicate id", original.event_id,
                                                              original.type))
    return records


# --- producing and reading back --------------------------------------------------------------------------------


def produce_all(bootstrap: str, prefix: str, records: list[Rec]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_request_size=MIB)
    try:
        futures = [producer.send(prefix + r.topic, key=r.key, value=r.value) for r in records]
        producer.flush(60)
        for r, f in zip(records, futures):
            md = f.get(30)
            r.where = (md.topic, md.partition, md.offset)
    finally:
        producer.close()


def read_all(bootstrap: str, topic: str, until: Callable[[list], bool], timeout: float) -> list:
    """Raw records of ``topic`` from the start, until ``until(records)`` holds or ``timeout`` passes."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                             enable_auto_commit=False, fetch_max_bytes=64 * MIB, max_partition_fetch_bytes=8 * MIB)
    try:
        deadline = time.monotonic() + timeout
        while not consumer.partitions_for_topic(topic) and time.monotonic() < deadline:
            time.sleep(0.5)
        consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()])
        out: list = []
        while time.monotonic() < deadline and not until(out):
            for recs in consumer.poll(timeout_ms=500).values():
                out += recs
        return out
    finally:
        consumer.close()


# --- fixtures ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"h{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="module")
def worker(kafka_bootstrap, prefix, slack, tmp_path_factory):
    env = {**slack_env(slack), "BATON_DELIVERY__RATE_LIMITS__SLACK": "0",
           "BATON_DELIVERY__DIGEST_THRESHOLD": "100000"}
    proc = WorkerProcess(kafka_bootstrap, prefix, tmp_path_factory.mktemp("hostile-worker"), extra_env=env).start()
    yield proc
    proc.stop()


# --- the test ----------------------------------------------------------------------------------------------------


@settings(max_examples=1, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
@given(records=batches())
def test_hostile_records_are_dead_lettered_and_valid_ones_processed(records, kafka_bootstrap, prefix, worker, slack):
    produce_all(kafka_bootstrap, prefix, records)
    dead = [r for r in records if r.expect == "dead"]
    valid = [r for r in records if r.expect == "valid"]
    dups = [r for r in records if r.expect == "duplicate"]
    print(f"produced {len(records)} records: {len(dead)} hostile, {len(valid)} valid, {len(dups)} duplicate ids; "
          f"largest {max(len(r.value or b'') for r in records)} bytes, {sum(len(r.value or b'') for r in records)} "
          f"in all")
    print(sorted(Counter(r.kind.split(" (")[0] for r in dead).items()))

    letters = read_all(kafka_bootstrap, prefix + "deadletter", until=lambda rs: len(rs) >= len(dead), timeout=90)
    assert worker.proc.poll() is None, f"the worker died:\n{worker.log_tail(80)}"
    by_where: dict[tuple[str, int, int], Any] = {}
    for rec in letters:
        body = json.loads(rec.value)
        by_where[(body["topic"], body["partition"], body["offset"])] = (rec.key, body)
    missing = [(r.kind, r.where) for r in dead if r.where not in by_where]
    assert not missing, f"{len(missing)} rejected records not in the dead letters: {missing[:10]}"
    for r in dead:
        key, body = by_where[r.where]
        assert body["reason"].strip(), (r.kind, body)
        assert key == r.key, (r.kind, key, r.key)  # contract: the dead letter keeps the input's key
    wrongly_dead = [(r.kind, r.where, by_where[r.where][1]["reason"]) for r in valid + dups if r.where in by_where]
    assert not wrongly_dead, f"valid records dead-lettered: {wrongly_dead[:5]}"

    # Every valid payment notified exactly once (duplicates of its id did not notify again).
    payment_ids = {f"payment-to-sales:{r.event_id}" for r in valid if r.type == "payment.succeeded"}
    notes = read_all(kafka_bootstrap, prefix + "notifications", timeout=90, until=lambda rs: payment_ids <= {
        json.loads(x.value)["id"] for x in rs})
    ids = [json.loads(x.value)["id"] for x in notes]
    assert payment_ids <= set(ids), f"valid payments without a notification: {sorted(payment_ids - set(ids))[:5]}"
    assert all(ids.count(i) == 1 for i in payment_ids), [i for i in payment_ids if ids.count(i) != 1]

    # Counted once each: distinct valid events (per account or spend key), the rest as duplicates.
    distinct = {(r.key, r.event_id) for r in valid}
    assert eventually(lambda: worker.http_json("/metrics.json")["events_valid"] >= len(distinct), 60)
    metrics = worker.http_json("/metrics.json")
    print({k: metrics[k] for k in ("events_valid", "events_duplicate", "dead_letters", "notifications")})
    assert metrics["events_valid"] == len(distinct)
    assert metrics["events_duplicate"] == len(valid) + len(dups) - len(distinct)
    assert metrics["dead_letters"] == len(dead)

    # And the awkward but valid ones (unicode names, big extra fields) reached Slack.
    assert eventually(lambda: payment_ids <= set(slack.ids_received()), 90), sorted(
        payment_ids - set(slack.ids_received()))[:5]
    assert worker.proc.poll() is None, f"the worker died:\n{worker.log_tail(80)}"


# --- known bugs: sizes and numbers Kafka or orjson cannot carry -------------------------------------------------

# The tests below are regressions of bugs this file found (all fixed): a dead letter
# larger than a Kafka record crashed the intake agent; an account history past ~1 MB
# (big extra fields) crashed the worker; an extra integer beyond 64 bits crashed the
# history write after the notification went out, so live state differed from a replay.


@pytest.fixture
def own_worker(kafka_bootstrap, tmp_path):
    """A worker of its own, for a test that may take it down."""
    prefix = f"hx{uuid.uuid4().hex[:8]}."
    proc = WorkerProcess(kafka_bootstrap, prefix, tmp_path).start()
    yield proc
    proc.stop()


def notification_ids(bootstrap: str, prefix: str, wanted: set[str], timeout: float = 20) -> set[str]:
    notes = read_all(bootstrap, prefix + "notifications", timeout=timeout,
                     until=lambda rs: wanted <= {json.loads(x.value)["id"] for x in rs})
    return {json.loads(x.value)["id"] for x in notes}


def test_rejected_records_near_kafkas_size_limit_are_dead_lettered(kafka_bootstrap, own_worker):
    prefix = own_worker.prefix
    just_under = envelope("payment.succeeded", "acct_big", {"payment_id": "p", "amount": 1, "currency": "USD"})
    just_under["data"]["invoice_id"] = ""
    filler = 1_048_000 - len(dumps(just_under))
    just_under["data"]["invoice_id"] = "x" * filler  # over the contract's 256 characters: rejected
    records = [
        Rec("payments", b"acct_big", dumps(just_under), "dead", "JSON just under 1 MiB"),
        Rec("signups", b"acct_noise", random.Random(7).randbytes(400_000), "dead", "400 KB of random bytes"),
    ]
    ok = envelope("payment.succeeded", "acct_ok", {"payment_id": "p", "amount": 1, "currency": "USD"})
    records.append(Rec("payments", b"acct_ok", dumps(ok), "valid", "valid", ok["id"], ok["type"]))
    assert len(records[0].value) == 1_048_000
    produce_all(kafka_bootstrap, prefix, records)

    # The valid payment after them is processed either way.
    wanted = {f"payment-to-sales:{ok['id']}"}
    assert wanted <= notification_ids(kafka_bootstrap, prefix, wanted)
    letters = read_all(kafka_bootstrap, prefix + "deadletter", until=lambda rs: len(rs) >= 2, timeout=15)
    where = {(b["topic"], b["partition"], b["offset"]) for b in (json.loads(r.value) for r in letters)}
    assert own_worker.proc.poll() is None
    assert {r.where for r in records[:2]} <= where, own_worker.log_tail(20)


def test_valid_events_with_big_extra_fields_keep_the_worker_alive(kafka_bootstrap, own_worker):
    events = [envelope("payment.succeeded", "acct_blob", {"payment_id": f"p{i}", "amount": 100, "currency": "USD",
                                                          "attachment": "y" * 600_000},
                       at=iso(NOW - timedelta(days=2, hours=i))) for i in range(2)]
    produce_all(kafka_bootstrap, own_worker.prefix,
                [Rec("payments", b"acct_blob", dumps(ev), "valid", "big extra", ev["id"], ev["type"]) for ev in events])
    wanted = {f"payment-to-sales:{ev['id']}" for ev in events}
    assert wanted <= notification_ids(kafka_bootstrap, own_worker.prefix, wanted)
    assert eventually(lambda: own_worker.proc.poll() is not None, 5) is False, own_worker.log_tail(30)


def test_a_valid_event_with_a_huge_integer_extra_field_is_kept_in_state(kafka_bootstrap, own_worker):
    import subprocess
    import sys

    first = envelope("payment.succeeded", "acct_int", {"payment_id": "p1", "amount": 100, "currency": "USD",
                                                       "n": 2**70}, at=iso(NOW - timedelta(days=2)))
    second = envelope("payment.succeeded", "acct_int", {"payment_id": "p2", "amount": 200, "currency": "USD"},
                      at=iso(NOW - timedelta(days=1)))
    produce_all(kafka_bootstrap, own_worker.prefix,
                [Rec("payments", b"acct_int", dumps(ev), "valid", "big int", ev["id"], ev["type"])
                 for ev in (first, second)])
    wanted = {f"payment-to-sales:{first['id']}", f"payment-to-sales:{second['id']}"}
    assert wanted <= notification_ids(kafka_bootstrap, own_worker.prefix, wanted)
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "BATON_TOPIC_PREFIX": own_worker.prefix, "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "baton", "replay", "--wait", "15"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-1500:]
    assert own_worker.proc.poll() is None
