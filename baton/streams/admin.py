"""Create the contract's topics (idempotently) and check their partitioning.

Baton reads input topics with any partition count, but all five must have the
same count: one agent reads them together and its account table lives in the
same partition as the account's events.
"""

from __future__ import annotations

import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from baton.settings import Settings
from baton.streams.topics import COMPACTED, INPUT_TOPICS, OUTPUT_TOPICS, TopicNames

log = logging.getLogger(__name__)

# Internal topics (Baton's own, not part of the contract): due timer checks, read
# back by the intake agent; per-partition scorecard parts, combined per scope.
# Plan trackers' state (which figures were last reported at risk), read back at start.
INTERNAL_TOPICS = ("timers", "scorecard-parts", "plan-state")
INTERNAL_COMPACTED = frozenset({"scorecard-parts", "plan-state"})


class TopicLayoutError(RuntimeError):
    """The existing topics cannot be read together correctly."""


def admin_client(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, client_id="baton-admin",
                            request_timeout_ms=30000)


def existing_partitions(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for meta in admin.describe_topics(names):
        if meta.get("error_code", 0) == 0 and meta.get("partitions"):
            found[meta.get("name") or meta["topic"]] = len(meta["partitions"])
    return found


def input_partition_count(settings: Settings, admin: KafkaAdminClient | None = None) -> int:
    """The partition count the worker must use: the inputs' own, else the setting."""
    names = TopicNames(settings.topic_prefix)
    own = admin is None
    admin = admin or admin_client(settings)
    try:
        counts = existing_partitions(admin, names.inputs)
    finally:
        if own:
            admin.close()
    distinct = set(counts.values())
    if len(distinct) > 1:
        detail = ", ".join(f"{t}={n}" for t, n in sorted(counts.items()))
        raise TopicLayoutError(
            f"input topics have different partition counts ({detail}); Baton needs one count for all five "
            "so each account's events and state share a partition. Add partitions to match "
            "(kafka-topics --alter --partitions N) or recreate them."
        )
    return distinct.pop() if distinct else settings.partitions


def ensure_topics(settings: Settings) -> list[str]:
    """Create missing topics; return a line per topic describing it."""
    names = TopicNames(settings.topic_prefix)
    admin = admin_client(settings)
    try:
        partitions = input_partition_count(settings, admin)
        wanted = [*INPUT_TOPICS, *OUTPUT_TOPICS, *INTERNAL_TOPICS]
        existing = existing_partitions(admin, [names.name(t) for t in wanted])
        missing = []
        for short in wanted:
            full = names.name(short)
            if full in existing:
                continue
            configs = {"cleanup.policy": "compact"} if short in COMPACTED | INTERNAL_COMPACTED else {}
            missing.append(NewTopic(full, partitions, settings.replication_factor, topic_configs=configs))
        for topic in missing:
            try:
                admin.create_topics([topic], timeout_ms=30000)
            except TopicAlreadyExistsError:
                pass  # another worker made it in the meantime
        existing = existing_partitions(admin, [names.name(t) for t in wanted])
        return [f"{names.name(t)}\t{existing.get(names.name(t), '?')} partitions"
                + ("\tcompacted" if t in COMPACTED else "") for t in wanted]
    finally:
        admin.close()
