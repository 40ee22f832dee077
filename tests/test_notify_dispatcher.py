"""The dispatcher: ledger dedup, restarts, digest under pressure, rate limit, backpressure, fallback, metrics."""

from __future__ import annotations

import asyncio
import io
import json
import re
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from rich.console import Console

from baton.notify import Dispatcher, DispatcherClosed, InMemoryLedger, build_channels
from baton.notify.digest import take_batch
from baton.notify.outcome import Permanent, Retryable
from baton.notify.render import Renderer
from baton.notify.retry import RetryPolicy
from baton.settings import RetrySettings, Settings
from baton.streams.records import Cause, Delivery, Notification
from slack_server import Received, SlackServer

pytestmark = pytest.mark.timeout(30)

HOOK = "T0001/B0001/sales"


def note(i: int, channels: list[str] | None = None, company: str = "Acme") -> Notification:
    return Notification(
        id=f"payment-to-sales:evt_{i}", rule="payment-to-sales", team="sales", severity="info", account_id="acct_1",
        title=f"{company} paid ${i},000.00", text=f"Payment pay_{i} from {company}.",
        channels=channels or ["slack:#sales"], cause=Cause(event_id=f"evt_{i}", type="payment.succeeded"),
        created_at="2026-11-22T10:04:00.120Z", facts={"company": company, "payment_id": f"pay_{i}"},
    )


def ids(received: list[Received]) -> list[str]:
    return re.findall(r"payment-to-sales:evt_\d+", " ".join(json.dumps(r.body) for r in received))


@pytest.fixture
async def slack():
    async with SlackServer() as server:
        yield server


def make(slack: SlackServer, ledger: InMemoryLedger | None = None, console: Console | None = None,
         registry: CollectorRegistry | None = None, **delivery: Any):
    records: list[Delivery] = []

    async def record(d: Delivery) -> None:
        records.append(d)

    delivery.setdefault("rate_limits", {"slack": 0})
    delivery.setdefault("retry", {"initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.2, "jitter": 0})
    settings = Settings(slack={"webhook_url": slack.webhook_url(HOOK)}, delivery=delivery)
    channels = build_channels(settings, console=console)
    d = Dispatcher(channels, ledger=ledger or InMemoryLedger(), on_delivery=record, settings=settings.delivery, registry=registry)
    return d, records


# --- idempotency -------------------------------------------------------------------------


async def test_the_ledger_prevents_resending_a_delivered_id(slack: SlackServer):
    ledger = InMemoryLedger()
    await ledger.mark_delivered("payment-to-sales:evt_1", "slack:#sales")
    d, records = make(slack, ledger)
    assert await d.deliver(note(1)) == {"slack:#sales": "skipped-duplicate"}
    assert slack.received == []
    assert [(r.attempt, r.status) for r in records] == [(0, "skipped-duplicate")]
    assert d.metrics.skipped_duplicates == 1
    await d.stop()


async def test_a_restart_mid_stream_resends_nothing_already_delivered(slack: SlackServer):
    ledger = InMemoryLedger()  # in the worker: the changelog-backed table that survives the restart
    first, _ = make(slack, ledger)
    for i in range(1, 4):
        await first.deliver(note(i))
    await first.stop()
    # The new worker re-reads m2c.notifications from the last committed offset: 1-3 come again, then 4-5.
    second, records = make(slack, ledger)
    results = [await second.deliver(note(i)) for i in range(1, 6)]
    assert [r["slack:#sales"] for r in results] == ["skipped-duplicate"] * 3 + ["delivered"] * 2
    assert sorted(ids(slack.posted)) == [f"payment-to-sales:evt_{i}" for i in range(1, 6)]  # each once
    await second.stop()


async def test_the_same_notification_submitted_twice_in_flight_is_sent_once(slack: SlackServer):
    d, _ = make(slack)
    a = await d.submit(note(1))
    b = await d.submit(note(1))
    assert await a == await b == {"slack:#sales": "delivered"}
    assert len(slack.posted) == 1
    await d.stop()


async def test_ledger_is_marked_only_after_success(slack: SlackServer):
    ledger = InMemoryLedger()
    d, _ = make(slack, ledger, retry={"max_attempts": 1})
    slack.fail_next(1, status=500)
    assert await d.deliver(note(1)) == {"slack:#sales": "failed"}
    assert ledger.entries == set()
    assert await d.deliver(note(1)) == {"slack:#sales": "delivered"}  # a failed one may be tried again later
    assert ledger.entries == {("payment-to-sales:evt_1", "slack:#sales")}
    await d.stop()


# --- rate limit and digest --------------------------------------------------------------------


async def test_rate_limit_spaces_messages_per_destination(slack: SlackServer):
    d, _ = make(slack, rate_limits={"slack": 4}, digest_threshold=100)
    await asyncio.gather(*[await d.submit(note(i)) for i in range(1, 5)])
    gaps = [b.at - a.at for a, b in zip(slack.received, slack.received[1:])]
    assert len(slack.received) == 4 and all(g >= 0.24 for g in gaps)
    await d.stop()


async def test_digest_under_pressure_merges_the_queue_into_one_message(slack: SlackServer):
    d, records = make(slack, rate_limits={"slack": 1}, digest_threshold=3)
    await d.deliver(note(1))  # alone: no pressure
    futures = [await d.submit(note(i)) for i in range(2, 12)]  # a burst of 10 while the limiter holds
    await asyncio.gather(*futures)
    assert len(slack.posted) == 2
    single, digest = slack.posted
    assert ids([single]) == ["payment-to-sales:evt_1"]
    assert digest.at - single.at >= 0.95
    assert digest.body["text"] == "10 notifications from Baton"
    assert sorted(ids([digest])) == sorted(f"payment-to-sales:evt_{i}" for i in range(2, 12))
    assert d.metrics.digests == 1 and d.metrics.delivered == 11
    assert {r.digest_size for r in records if r.notification_id != "payment-to-sales:evt_1"} == {10}
    await d.stop()


async def test_below_the_threshold_messages_go_one_by_one(slack: SlackServer):
    d, _ = make(slack, digest_threshold=5)
    await asyncio.gather(*[await d.submit(note(i)) for i in range(1, 4)])
    assert len(slack.posted) == 3 and d.metrics.digests == 0
    await d.stop()


def test_take_batch():
    from collections import deque

    q = deque(range(10))
    assert take_batch(q, threshold=20, max_size=50) == [0]
    assert take_batch(q, threshold=5, max_size=4) == [1, 2, 3, 4]
    assert take_batch(q, threshold=5, max_size=50) == [5]  # 5 left: not more than the threshold
    assert take_batch(deque(), 1, 2) == []


# --- backpressure, lanes, life cycle ------------------------------------------------------------


async def test_a_full_queue_makes_submit_wait_and_shows_in_metrics(slack: SlackServer):
    registry = CollectorRegistry()
    d, _ = make(slack, registry=registry, queue_size=2,
                retry={"initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.1, "max_attempts": 100})
    assert registry.get_sample_value("baton_notify_queue_capacity") == 2
    await slack.go_down()
    f1, f2 = await d.submit(note(1)), await d.submit(note(2))
    third = asyncio.create_task(d.submit(note(3)))
    await asyncio.sleep(0.3)
    assert not third.done()
    assert d.metrics.queue_depth == 2 and d.metrics.backpressure_waits == 1
    assert registry.get_sample_value("baton_notify_queue_depth") == 2
    assert registry.get_sample_value("baton_notify_backpressure_waits_total") == 1
    await slack.come_back()
    f3 = await asyncio.wait_for(third, 5)
    await asyncio.wait_for(asyncio.gather(f1, f2, f3), 5)
    assert d.metrics.queue_depth == 0
    assert registry.get_sample_value("baton_notify_deliveries_total", {"kind": "slack", "status": "delivered"}) == 3
    await d.stop()


async def test_a_failing_destination_does_not_hold_up_the_others(slack: SlackServer):
    console = Console(file=io.StringIO(), width=200)
    d, _ = make(slack, console=console, retry={"initial_backoff_seconds": 0.05, "max_attempts": 100})
    await slack.go_down()
    stuck = await d.submit(note(1))
    printed = await asyncio.wait_for(d.deliver(note(2, channels=["console"])), 2)
    assert printed == {"console": "printed"} and not stuck.done()
    await slack.come_back()
    assert await asyncio.wait_for(stuck, 5) == {"slack:#sales": "delivered"}
    await d.stop()


async def test_unconfigured_kinds_print_to_the_console():
    out = io.StringIO()
    settings = Settings()  # no Slack, no SMTP
    records: list[Delivery] = []

    async def record(r: Delivery) -> None:
        records.append(r)

    d = Dispatcher(build_channels(settings, console=Console(file=out, width=300)), ledger=InMemoryLedger(),
                   on_delivery=record, settings=settings.delivery)
    n = note(1, channels=["slack:#sales", "email:sales@example.com", "sms:+15550100", "console"], company="[bold]Acme[/bold]")
    result = await d.deliver(n)
    assert result == {"slack:#sales": "printed", "email:sales@example.com": "printed", "sms:+15550100": "printed", "console": "printed"}
    text = out.getvalue()
    assert text.count("[bold]Acme[/bold] paid $1,000.00") == 4  # rich markup in user text is printed, not applied
    assert "slack not configured" in text and "no sms channel" in text
    assert {r.detail for r in records} == {"slack not configured", "email not configured", "no sms channel", "printed"}
    await d.stop()


async def test_stop_drains_the_queue_then_refuses(slack: SlackServer):
    d, _ = make(slack, rate_limits={"slack": 10}, digest_threshold=100)
    futures = [await d.submit(note(i)) for i in range(1, 4)]
    await d.stop(drain=True, timeout=5)
    assert all(f.done() and not f.cancelled() for f in futures)
    assert len(slack.posted) == 3
    with pytest.raises(DispatcherClosed):
        await d.submit(note(9))


async def test_stop_without_drain_leaves_the_rest_unmarked(slack: SlackServer):
    ledger = InMemoryLedger()
    d, _ = make(slack, ledger, rate_limits={"slack": 2}, digest_threshold=100)
    futures = [await d.submit(note(i)) for i in range(1, 6)]
    await asyncio.sleep(0.1)
    await d.stop(drain=False)
    assert any(f.cancelled() for f in futures)
    # What was not sent is not in the ledger: the next worker sends it.
    assert len(ledger.entries) == len(slack.posted) < 5


async def test_stop_releases_a_submit_blocked_on_a_full_queue(slack: SlackServer):
    d, _ = make(slack, queue_size=1, retry={"initial_backoff_seconds": 0.05, "max_attempts": 100})
    await slack.go_down()
    await d.submit(note(1))
    blocked = asyncio.create_task(d.submit(note(2)))
    await asyncio.sleep(0.1)
    await d.stop(drain=False)
    with pytest.raises(DispatcherClosed):
        await asyncio.wait_for(blocked, 1)


async def test_run_returns_after_stop(slack: SlackServer):
    d, _ = make(slack)
    runner = asyncio.create_task(d.run())
    await d.deliver(note(1))
    await d.stop()
    await asyncio.wait_for(runner, 1)


async def test_a_failing_on_delivery_callback_does_not_lose_the_message(slack: SlackServer):
    async def broken(_: Delivery) -> None:
        raise RuntimeError("kafka is away")

    settings = Settings(slack={"webhook_url": slack.webhook_url(HOOK)}, delivery={"rate_limits": {"slack": 0}})
    d = Dispatcher.from_settings(settings, ledger=InMemoryLedger(), on_delivery=broken)
    assert await d.deliver(note(1)) == {"slack:#sales": "delivered"}
    await d.stop()


async def test_notification_without_channels_completes_at_once(slack: SlackServer):
    d, _ = make(slack)
    assert await d.deliver(note(1).model_copy(update={"channels": []})) == {}
    await d.stop()


async def test_a_message_that_cannot_be_rendered_fails_at_once(slack: SlackServer, tmp_path):
    (tmp_path / "slack").mkdir()
    (tmp_path / "slack" / "default.json.j2").write_text("not json {{ n.title }}")
    settings = Settings(slack={"webhook_url": slack.webhook_url(HOOK)}, delivery={"rate_limits": {"slack": 0}})
    records: list[Delivery] = []

    async def record(r: Delivery) -> None:
        records.append(r)

    d = Dispatcher(build_channels(settings, renderer=Renderer(tmp_path)), ledger=InMemoryLedger(), on_delivery=record,
                   settings=settings.delivery)
    assert await d.deliver(note(1)) == {"slack:#sales": "failed"}
    assert [(r.attempt, r.status, r.detail) for r in records] == [
        (1, "failed", "permanent: could not render the message: slack/default.json.j2: JSONDecodeError"),
    ]
    assert slack.received == []
    await d.stop()


# --- retry policy ------------------------------------------------------------------------------


def test_backoff_grows_caps_and_jitters():
    import random

    p = RetryPolicy(RetrySettings(initial_backoff_seconds=1, max_backoff_seconds=10, multiplier=2, jitter=0.5), random.Random(7))
    delays = [p.delay(Retryable("x"), a) for a in range(1, 8)]
    caps = [1, 2, 4, 8, 10, 10, 10]
    assert all(c * 0.5 <= d <= c for d, c in zip(delays, caps))
    assert len({round(d, 6) for d in delays[4:]}) == 3  # jittered, not lockstep
    assert 3 <= p.delay(Retryable("429", retry_after=3), 1) <= 3.15
    assert p.delay(Retryable("429", retry_after=10_000), 1) <= 900 * 1.05


def test_bounds():
    p = RetryPolicy(RetrySettings(max_attempts=5, permanent_max_attempts=2))
    assert not p.give_up(Retryable("x"), 4) and p.give_up(Retryable("x"), 5)
    assert not p.give_up(Permanent("x"), 1) and p.give_up(Permanent("x"), 2)
    assert p.give_up(Permanent("broken message", final=True), 1)
