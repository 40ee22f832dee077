"""The delivery agent: ``m2c.notifications`` -> Slack, email, console; outcomes -> ``m2c.deliveries``.

A consumer of its own (not the intake agent), so a slow or down Slack never
slows funnel processing. Each record is handed to the dispatcher
(``baton.notify.dispatcher``: bounded queue, per-destination rate limit,
digest, retry) and acknowledged only when it is finished on every channel:
offsets commit only past finished notifications, so a crash loses none of
the queued ones. The ledger makes the redelivery after a crash send nothing
that was already delivered.

Notifications this worker's intake wrote are usually on their way already: the
hand-over (``baton.notify.handover``) gave them to the dispatcher as they were
sent, and their copy read back here is acknowledged when that delivery is done.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING

import orjson
from pydantic import ValidationError

from baton.notify.dispatcher import Dispatcher, DispatcherClosed
from baton.notify.handover import HandOver
from baton.notify.table_ledger import TableLedger
from baton.streams.partitioning import expected_partition
from baton.streams.records import Delivery, Notification

if TYPE_CHECKING:
    from baton.streams.app import BatonApp

log = logging.getLogger(__name__)
DRAIN_ON_REBALANCE_SECONDS = 10.0
DRAIN_ON_SHUTDOWN_SECONDS = 10.0


def register(baton: "BatonApp") -> None:
    app = baton.faust
    ledger = TableLedger(baton.ledger, write=lambda key, value: baton.write_table_now(baton.ledger, key, value))

    deliveries_topic = baton.deliveries.get_topic_name()

    async def record_delivery(delivery: Delivery) -> None:
        # Straight into aiokafka (Faust flushes it before committing), not through Faust's
        # Topic.send (~100 µs of layers per record); the acknowledgement is not awaited.
        sent = await baton.kafka_producer().send(
            deliveries_topic, orjson.dumps(delivery.model_dump(mode="json", exclude_none=True)),
            key=delivery.notification_id.encode())
        sent.add_done_callback(_log_unrecorded)

    dispatcher = Dispatcher.from_settings(baton.settings, ledger=ledger, on_delivery=record_delivery,
                                          registry=baton.registry)
    baton.dispatcher = dispatcher

    notifications_topic = baton.notifications.get_topic_name()
    delivered_here: set[int] = set()  # this worker's partitions of m2c.notifications

    def owns(key: bytes) -> bool:
        if app.rebalancing or not delivered_here:  # rebalancing lasts until the ledger is recovered
            return False
        partitions = baton.kafka_producer().client.cluster.partitions_for_topic(notifications_topic)
        return bool(partitions) and expected_partition(key, len(partitions)) in delivered_here

    if baton.settings.delivery.hand_over:
        baton.hand_over = HandOver(dispatcher, ledger, owns)

    @app.task
    async def run_dispatcher() -> None:
        await dispatcher.run()

    acker = InOrderAcker()

    @app.agent(baton.notifications, name="delivery")
    async def deliver(stream):
        async for event in stream.noack().events():
            try:
                notification = Notification.model_validate_json(event.message.value)
            except ValidationError as exc:  # not Baton's record: nothing to deliver, say why
                log.error("skipping malformed notification at %s[%d]@%d: %s", event.message.topic,
                          event.message.partition, event.message.offset, exc)
                event.ack()
                continue
            handed = baton.hand_over.take(notification.id) if baton.hand_over is not None else None
            if handed is not None:  # already on its way: acknowledge this copy once it is done
                handed.add_done_callback(_acknowledge(acker.track(event), acker))
                continue
            ledger.remember(notification.id, event.message.key or b"")
            try:
                done = await dispatcher.submit(notification)  # waits while the queue is full: backpressure
            except DispatcherClosed:
                ledger.forget(notification.id)
                return  # shutting down: unacknowledged, so read again after the restart
            done.add_done_callback(lambda _, nid=notification.id: ledger.forget(nid))
            done.add_done_callback(_acknowledge(acker.track(event), acker))

    @app.on_before_shutdown.connect
    async def _drain_before_shutdown(app_, **kwargs) -> None:  # noqa: ARG001
        # Faust stops its consumer first, then sends this, then stops the producer. Finish what
        # is in flight now, while ledger marks can still reach Kafka, and send nothing after:
        # a message sent once the producer is gone would be unmarked, and sent again at restart.
        await dispatcher.stop(drain=True, timeout=DRAIN_ON_SHUTDOWN_SECONDS)

    @app.on_partitions_assigned.connect
    async def _note_delivered_here(app_, assigned, **kwargs) -> None:  # noqa: ARG001
        delivered_here.clear()
        delivered_here.update(tp.partition for tp in assigned if tp.topic == notifications_topic)

    @app.on_partitions_revoked.connect
    async def _drain_before_rebalance(app_, revoked, **kwargs) -> None:  # noqa: ARG001
        delivered_here.clear()  # nothing more is handed over until the new assignment is known
        # Finish what is in flight before partitions move, so the new owner does not send it
        # again; bounded, since a channel that is down must not stall the rebalance.
        try:
            await asyncio.wait_for(dispatcher.join(), timeout=DRAIN_ON_REBALANCE_SECONDS)
        except asyncio.TimeoutError:
            log.warning("rebalance: deliveries still in flight after %ss; the new owner may repeat them",
                        DRAIN_ON_REBALANCE_SECONDS)


class InOrderAcker:
    """Acknowledges a partition's events in offset order, whatever order they finish in.

    Notifications finish out of order (one channel is slow, another fast). Faust's
    offset bookkeeping mishandles a single unacknowledged offset at the head of the
    acked list (faust-streaming#606: it can commit past it), so Baton never leaves
    one: an event is acked only once every earlier event of its partition is done.
    """

    def __init__(self) -> None:
        self._pending: dict[tuple[str, int], deque[list]] = {}

    def track(self, event) -> list:
        tp = (event.message.topic, event.message.partition)
        slot = [event, False]
        self._pending.setdefault(tp, deque()).append(slot)
        return slot

    def done(self, slot: list) -> None:
        slot[1] = True
        event = slot[0]
        queue = self._pending.get((event.message.topic, event.message.partition))
        while queue and queue[0][1]:
            queue.popleft()[0].ack()


def _log_unrecorded(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("a delivery record was not written to Kafka: %s", future.exception())


def _acknowledge(slot: list, acker: InOrderAcker):
    def callback(future) -> None:
        if not future.cancelled():  # cancelled: stopped before it was finished, so never acknowledged
            acker.done(slot)

    return callback
