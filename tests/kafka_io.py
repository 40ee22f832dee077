"""Plain-client helpers for tests: build contract events, produce them, read topics back."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from typing import Any, Callable

from kafka import KafkaConsumer, KafkaProducer

_seq = itertools.count(1)


def event(type_: str, account_id: str | None, data: dict[str, Any], *, at: str = "2026-11-22T10:04:00Z",
          id: str | None = None, **extra: Any) -> dict[str, Any]:
    ev = {"id": id or f"evt_{next(_seq)}_{uuid.uuid4().hex[:6]}", "type": type_, "occurred_at": at, "data": data,
          **extra}
    if account_id is not None:
        ev["account_id"] = account_id
    return ev


def topic_of(type_: str) -> str:
    return {"signup": "signups", "lead": "leads", "deal": "deals", "payment": "payments",
            "subscription": "payments", "spend": "spend"}[type_.split(".")[0]]


def produce(bootstrap: str, prefix: str, events: list[dict[str, Any] | tuple[str, bytes | None, bytes]]) -> None:
    """Produce contract events (dicts: topic and key from the event) or raw (topic, key, value) tuples."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        for item in events:
            if isinstance(item, dict):
                key = item.get("account_id") or item["data"].get("campaign_id") or item["data"].get("team")
                producer.send(prefix + topic_of(item["type"]), key=key.encode(), value=json.dumps(item).encode())
            else:
                topic, key, value = item
                producer.send(prefix + topic, key=key, value=value)
        producer.flush(30)
    finally:
        producer.close()


def read_topic(bootstrap: str, topic: str, *, until: Callable[[list[dict]], bool] | None = None,
               timeout: float = 60.0, settle: float = 0.0) -> list[dict[str, Any]]:
    """All records of a topic as {"key", "value" (parsed JSON), "partition", "offset"}.

    Reads until ``until(records)`` is true (then ``settle`` more seconds, to catch
    anything extra, such as a duplicate that must not be there) or ``timeout``.
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
                             group_id=None, consumer_timeout_ms=500)
    consumer.subscribe([topic])
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            for msg in consumer:
                value = json.loads(msg.value) if msg.value is not None else None  # None: a tombstone
                records.append({"key": msg.key.decode() if msg.key else None, "value": value,
                                "partition": msg.partition, "offset": msg.offset})
            if settle_until is None and until is not None and until(records):
                settle_until = time.monotonic() + settle
            if settle_until is not None and time.monotonic() >= settle_until:
                break
        return records
    finally:
        consumer.close()


def committed_and_ends(bootstrap: str, group_id: str, topic: str, timeout: float = 30.0) -> tuple[dict, dict]:
    """The group's committed offsets and the end offsets of ``topic``'s partitions, once the
    committed ones reach the ends or ``timeout`` passed (Faust commits every few seconds)."""
    from kafka import TopicPartition

    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic)]
        ends = reader.end_offsets(partitions)
        deadline = time.monotonic() + timeout
        while True:
            committed = {tp: reader.committed(tp) or 0 for tp in partitions}
            if all(committed[tp] >= ends[tp] for tp in partitions) or time.monotonic() >= deadline:
                return committed, ends
            time.sleep(0.5)
    finally:
        reader.close()
