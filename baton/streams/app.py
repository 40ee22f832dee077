"""The Faust application: topics, tables and agents wired from the settings.

``BatonApp`` owns everything one worker process needs. Values travel as raw
bytes end to end: Baton decodes JSON itself (pydantic ``validate_json`` on the
raw value) because Faust's own model decoding is several times slower.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import faust
from aiokafka.errors import ProducerClosed
from faust.types import TP

from prometheus_client import CollectorRegistry

from baton.notify.routing import Routing
from baton.rules.drafts import Draft, Router, to_notification
from baton.streams.records import Notification
from baton.settings import Settings
from baton.streams.account_cache import AccountCache
from baton.streams.current_event import in_partition
from baton.streams.intake_delay import IntakeDelay
from baton.streams.metrics import WorkerMetrics
from baton.streams.partitioning import expected_partition
from baton.scorecard import Scorecard
from baton.streams.timers import DueQueue
from baton.streams.topics import TopicNames

if TYPE_CHECKING:
    from baton.streams.output_batch import OutputBatch

log = logging.getLogger(__name__)

RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


def _retrieved(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


def broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{hp.strip()}" for hp in bootstrap.split(",") if hp.strip()]


class BatonApp:
    def __init__(self, settings: Settings, partitions: int | None = None, router: Router | None = None) -> None:
        if not settings.bootstrap_servers:
            raise ValueError("settings.bootstrap_servers is required to build the worker")
        self.settings = settings
        self.names = TopicNames(settings.topic_prefix)
        self.partitions = partitions or settings.partitions
        # Routing decides teams, channels and on/off per rule (docs/notifications.md).
        self.routing = Routing(settings)
        self.router: Router = router or self.routing.channels_for
        self.registry = CollectorRegistry()  # Prometheus series of this worker (/metrics)
        self.dispatcher = None  # set by baton.agents.delivery
        self.hand_over = None  # baton.notify.handover.HandOver, set by baton.agents.delivery when switched on
        self.intake_feed = None  # set by baton.agents.intake when the intake reads through it
        self.metrics = WorkerMetrics()
        self.intake_delay = IntakeDelay(self.registry)
        # Accounts changed since the last funnel flush (key -> latest state).
        self.pending_funnel: dict[bytes, Any] = {}
        # Decoded histories of recently seen accounts in front of the accounts table.
        self.account_cache = AccountCache(settings.account_cache_size)
        self.due_queue = DueQueue()
        self._changelog_order = asyncio.Lock()  # see write_table_now
        # Scorecard totals of each input partition this worker owns; each remembers what
        # changed since it was last published (rebuilt by baton.agents.recovery).
        self.part_cards: dict[int, Scorecard] = {}
        # This worker's combiner: the parts it combines and their sums (set by
        # baton.agents.scorecard_publisher), the scopes to republish, and the whole
        # scorecard as read back from m2c.scorecard (baton.agents.scorecard_view).
        self.part_store = None
        self.dirty_scopes: set[str] = set()
        self.scorecards: dict[str, dict[str, Any]] = {}
        # The latest evaluation of each configured plan (PlanStatus.to_dict()), by plan key.
        self.plan_statuses: dict[str, dict[str, Any]] = {}
        # True once m2c.scorecard was read up to its end as of start-up.
        self.scorecards_ready = False
        settings.data_dir.mkdir(parents=True, exist_ok=True)

        self.faust = faust.App(
            settings.app_id,
            broker=broker_urls(settings.bootstrap_servers),
            store=settings.store,
            datadir=str(settings.data_dir / "faust"),
            topic_partitions=self.partitions,
            topic_replication_factor=settings.replication_factor,
            key_serializer="raw",
            value_serializer="raw",
            web_enabled=settings.web_enabled,
            web_host=settings.web_host,
            web_port=settings.web_port,
            web_bind=settings.web_host,
            consumer_auto_offset_reset="earliest",
            # A killed worker's partitions wait out the session timeout before anyone (its own
            # restart included) gets them back: Faust's 60 s is a minute of silence per crash.
            broker_session_timeout=settings.session_timeout_seconds,
            broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 3),
            producer_max_batch_size=settings.producer_batch_bytes,
            table_cleanup_interval=3600.0,
            autodiscover=False,
            # Baton creates and checks its topics itself (baton.streams.admin).
            topic_allow_declare=True,
        )

        # The intake agent reads the five input topics and Baton's own due timer checks,
        # all partitioned alike, so an account's events, checks and state share a partition.
        self.timers_topic_name = self.names.name("timers")
        self.inputs = self.faust.topic(*self.names.inputs, self.timers_topic_name, partitions=self.partitions, **RAW)
        self.timers = self._out("timers")
        self.notifications = self._out("notifications")
        self.deliveries = self._out("deliveries")
        self.funnel = self._out("funnel")
        self.scorecard = self._out("scorecard")
        self.deadletter = self._out("deadletter")

        # Account histories, keyed by the account_id bytes of the input key, written only
        # while processing that account's event: the changelog partition is then the
        # input partition, so recovery puts each account back where its events are.
        self.accounts = self._table("accounts", help="Per-account event history (the funnel's source of truth)")
        # spend.recorded events by event id, for dedup and recovery of the scorecard.
        self.spend = self._table("spend", help="Spend events by event id")
        # Per-partition scorecard parts by "scope#partition", combined per scope.
        self.parts_topic = self._out("scorecard-parts")
        self.scorecard_parts = self._table("scorecard-parts", help="Scorecard part of one input partition")
        # Delivered (notification id, channel) pairs, keyed like m2c.notifications (baton.notify.table_ledger).
        self.ledger = self._table("delivery-ledger", use_partitioner=True,
                                  help="Notification ids delivered, per channel")

        from baton.agents import register_agents

        register_agents(self)

    def kafka_producer(self):
        """The AIOKafkaProducer under Faust's producer (started with the app): for whole-batch sends
        (baton.streams.output_batch), flushed by Faust before it commits offsets."""
        return self.faust.producer._ensure_producer()

    async def write_table_now(self, table: faust.Table, key: bytes, value: bytes) -> None:
        """``table[key] = value``, returning once the changelog record is acknowledged by Kafka.

        Faust's own table write only buffers the record (the Faust producer's pending queue,
        then aiokafka): fine for state rebuilt from the input, too late for what must survive
        a crash the moment it is written (the delivery ledger). Straight to aiokafka, in the
        partition Faust's partitioner would choose (murmur2 of the key over the table's
        partitions), and for a RocksDB store into that partition's database.

        The table changes before the first ``await``, so a caller's read-modify-write of a key
        never reads a value another write has replaced; and records are queued in the order the
        table changed (one lock, FIFO), so compaction keeps the newest value of a key.
        """
        partition = expected_partition(key, table.partitions)
        with in_partition(partition):  # a RocksDB store writes to the current event's partition
            table.data[key] = value
        producer = self.kafka_producer()
        topic = table.changelog_topic.get_topic_name()
        async with self._changelog_order:
            sent = await producer.send(topic, value, key=key, partition=partition)
        metadata = await sent
        table.data.set_persisted_offset(TP(topic, partition), metadata.offset)

    async def send_output(self, out: "OutputBatch") -> asyncio.Future | None:
        """Send a batch of output records; a batch Kafka finally refuses stops the worker, to start
        again from the last commit. Returns the future of Kafka's acknowledgement of them all
        (``OutputBatch.send``): input that caused them may be acknowledged once it succeeded.
        None when shutting down and the records could not be queued (never acknowledge then)."""
        records = len(out)
        try:
            sent = await out.send(self.kafka_producer(), self._output_lost)
        except ProducerClosed:
            if not self.faust.should_stop:
                raise
            # Shutting down: the consumer stopped (and made its last commit) before the
            # producer closed, so what could not be sent here is read again after the restart.
            log.info("stopping: up to %d output records not sent; they are produced again after the restart", records)
            return None
        sent.add_done_callback(_retrieved)  # a refusal is reported by _output_lost; callers may not wait
        return sent

    def _output_lost(self, exc: BaseException) -> None:
        log.critical("Kafka refused a batch of Baton's output records after retries (%s: %s): stopping the "
                     "worker so that no input offset is committed past them", type(exc).__name__, exc)
        asyncio.ensure_future(self.faust.crash(exc))

    def notification(self, draft: Draft) -> Notification | None:
        """The record for a rule's draft, routed; None when the rule is switched off."""
        if not self.routing.enabled(draft.rule):
            return None
        teams = self.routing.teams_for(draft.rule, draft.teams)
        if teams != draft.teams:
            from dataclasses import replace

            draft = replace(draft, teams=teams)
        return to_notification(draft, self.router)

    def _out(self, short: str) -> faust.TopicT:
        return self.faust.topic(self.names.name(short), partitions=self.partitions, **RAW)

    def _table(self, name: str, **kwargs: Any) -> faust.Table:
        table = self.faust.Table(name, partitions=self.partitions, key_type=bytes, value_type=bytes, **kwargs)
        # Values are Baton's own orjson bytes; skip Faust's JSON codec both ways.
        table.key_serializer = "raw"
        table.value_serializer = "raw"
        return table
