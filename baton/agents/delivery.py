"""The delivery agent: ``m2c.notifications`` -> Slack, email, console; outcomes -> ``m2c.deliveries``.

A consumer of its own (not the intake agent), so a slow or down Slack never
slows funnel processing. Each record is handed to the dispatcher
(``baton.notify.dispatcher``: bounded queue, per-destination rate limit,
digest, retry) and acknowledged only when it is finished on every channel:
offsets commit only past finished notifications, so a crash loses none of
the queued ones. The ledger makes the redelivery after a crash send nothing
that was already delivered.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import orjson
from pydantic import ValidationError

from baton.notify.dispatcher import Dispatcher
from baton.notify.table_ledger import TableLedger
from baton.streams.records import Delivery, Notification

if TYPE_CHECKING:
    from baton.streams.app import BatonApp

log = logging.getLogger(__name__)
DRAIN_ON_REBALANCE_SECONDS = 10.0


def register(baton: "BatonApp") -> None:
    app = baton.faust
    ledger = TableLedger(baton.ledger)

    async def record_delivery(delivery: Delivery) -> None:
        await baton.deliveries.send(key=delivery.notification_id.encode(),
                                    value=orjson.dumps(delivery.model_dump(mode="json", exclude_none=True)))

    dispatcher = Dispatcher.from_settings(baton.settings, ledger=ledger, on_delivery=record_delivery,
                                          registry=baton.registry)
    baton.dispatcher = dispatcher

    @app.task
    async def run_dispatcher() -> None:
        await dispatcher.run()

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
            ledger.remember(notification.id, event.message.key or b"")
            done = await dispatcher.submit(notification)  # waits while the queue is full: backpressure
            done.add_done_callback(_finish(event, ledger, notification.id))

    @app.on_partitions_revoked.connect
    async def _drain_before_rebalance(app_, revoked, **kwargs) -> None:  # noqa: ARG001
        # Finish what is in flight before partitions move, so the new owner does not send it
        # again; bounded, since a channel that is down must not stall the rebalance.
        try:
            await asyncio.wait_for(dispatcher.join(), timeout=DRAIN_ON_REBALANCE_SECONDS)
        except asyncio.TimeoutError:
            log.warning("rebalance: deliveries still in flight after %ss; the new owner may repeat them",
                        DRAIN_ON_REBALANCE_SECONDS)


def _finish(event, ledger: TableLedger, notification_id: str):
    def callback(_future) -> None:
        ledger.forget(notification_id)
        event.ack()

    return callback
