"""Slack delivery against a local server that speaks Slack's contract (tests/slack_server.py)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

from baton.notify import Dispatcher, InMemoryLedger, build_channels
from baton.notify.slack import SlackChannel
from baton.settings import Settings
from baton.streams.records import Cause, Delivery, Notification
from slack_server import Received, SlackServer

pytestmark = pytest.mark.timeout(30)

HOOK = "T0001/B0001/sales"
FAST_RETRY = {"initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.3, "jitter": 0.0}


def note(i: int = 1, *, company: str = "Acme", channels: list[str] | None = None, **facts: Any) -> Notification:
    return Notification(
        id=f"payment-to-sales:evt_{i}", rule="payment-to-sales", team="sales", severity="info", account_id="acct_acme",
        title=f"{company} paid $12,000.00", text=f"Payment pay_{i} of $12,000.00 from {company} (deal d-9, owner r-7).",
        channels=channels or ["slack:#sales"], cause=Cause(event_id=f"evt_{i}", type="payment.succeeded"),
        created_at="2026-11-22T10:04:00.120Z",
        facts={"company": company, "money": "$12,000.00", "payment_id": f"pay_{i}", "deal_id": "d-9", "owner_id": "r-7", **facts},
    )


def ids(received: list[Received]) -> list[str]:
    return re.findall(r"payment-to-sales:evt_\d+", " ".join(json.dumps(r.body) for r in received))


class Recorder:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []

    async def __call__(self, d: Delivery) -> None:
        self.deliveries.append(d)

    def statuses(self, notification_id: str | None = None) -> list[tuple[int, str]]:
        return [(d.attempt, d.status) for d in self.deliveries if notification_id in (None, d.notification_id)]


@pytest.fixture
async def slack():
    async with SlackServer() as server:
        yield server


def make(slack: SlackServer, *, webhook: bool = True, retry: dict | None = None, **delivery: Any) -> tuple[Dispatcher, Recorder, InMemoryLedger]:
    slack_cfg = {"webhook_url": slack.webhook_url(HOOK)} if webhook else {"bot_token": slack.token, "api_url": slack.api_url}
    settings = Settings(
        slack=slack_cfg,
        routing={"owners": {"r-7": {"slack_user": "U07ABC"}}},
        delivery={"rate_limits": {"slack": 0}, "retry": {**FAST_RETRY, **(retry or {})}, **delivery},
    )
    recorder, ledger = Recorder(), InMemoryLedger()
    return Dispatcher.from_settings(settings, ledger=ledger, on_delivery=recorder), recorder, ledger


EXPECTED_BLOCKS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": ":large_blue_circle: *Acme paid $12,000.00*"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "Payment pay_1 of $12,000.00 from Acme (deal d-9, owner r-7).\n<@U07ABC>"}},
    {"type": "section", "fields": [
        {"type": "mrkdwn", "text": "*Company*\nAcme"},
        {"type": "mrkdwn", "text": "*Amount*\n$12,000.00"},
        {"type": "mrkdwn", "text": "*Payment*\npay_1"},
        {"type": "mrkdwn", "text": "*Deal*\nd-9"},
        {"type": "mrkdwn", "text": "*Owner*\nr-7"},
    ]},
    {"type": "section", "text": {"type": "mrkdwn", "text": ":point_right: Thank the customer and check the deal is marked paid."}},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "Baton · payment-to-sales · payment-to-sales:evt_1"}]},
]


async def test_webhook_receives_the_exact_block_kit_payload(slack: SlackServer):
    d, rec, ledger = make(slack)
    assert await d.deliver(note(1)) == {"slack:#sales": "delivered"}
    [got] = slack.posted
    assert got.kind == "webhook" and got.target == HOOK
    assert got.body == {"text": "Acme paid $12,000.00", "blocks": EXPECTED_BLOCKS}
    assert rec.statuses() == [(1, "delivered")]
    assert ledger.entries == {("payment-to-sales:evt_1", "slack:#sales")}
    await d.stop()


async def test_web_api_receives_the_same_payload_with_the_channel(slack: SlackServer):
    d, rec, _ = make(slack, webhook=False)
    assert await d.deliver(note(1)) == {"slack:#sales": "delivered"}
    [got] = slack.posted
    assert got.kind == "api" and got.path == "/api/chat.postMessage"
    assert got.headers["Authorization"] == f"Bearer {slack.token}"
    assert got.body == {"channel": "#sales", "text": "Acme paid $12,000.00", "blocks": EXPECTED_BLOCKS,
                        "metadata": {"event_type": "baton_notification",
                                     "event_payload": {"ids": [note(1).id]}}}
    await d.stop()


async def test_hostile_company_name_arrives_escaped(slack: SlackServer):
    d, _, _ = make(slack)
    evil = "<!channel> <script>alert(1)</script> & Co"
    await d.deliver(note(1, company=evil))
    raw = json.dumps(slack.posted[0].body)
    assert "<!channel>" not in raw and "<script>" not in raw
    assert "&lt;!channel&gt; &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in slack.posted[0].body["blocks"][1]["text"]["text"]
    await d.stop()


async def test_429_retry_after_is_honoured(slack: SlackServer):
    d, rec, _ = make(slack)
    slack.rate_limit_next(1, retry_after=2)
    assert await d.deliver(note(1)) == {"slack:#sales": "delivered"}
    first, second = slack.received
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 2.0
    assert rec.statuses() == [(1, "retrying"), (2, "delivered")]
    assert rec.deliveries[0].next_attempt_in_seconds >= 2.0 and "429" in rec.deliveries[0].detail
    await d.stop()


async def test_429_on_the_web_api_too(slack: SlackServer):
    d, rec, _ = make(slack, webhook=False)
    slack.rate_limit_next(1, retry_after=1)
    await d.deliver(note(1))
    first, second = slack.received
    assert second.at - first.at >= 1.0
    assert rec.statuses() == [(1, "retrying"), (2, "delivered")]
    await d.stop()


async def test_500s_are_retried_with_backoff(slack: SlackServer):
    d, rec, _ = make(slack)
    slack.fail_next(3, status=500)
    assert await d.deliver(note(1)) == {"slack:#sales": "delivered"}
    assert [r.status for r in slack.received] == [500, 500, 500, 200]
    gaps = [b.at - a.at for a, b in zip(slack.received, slack.received[1:])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2  # 0.05 doubling, no jitter here
    assert d.metrics.retries == 3 and d.metrics.delivered == 1
    await d.stop()


async def test_every_notification_arrives_once_after_an_outage(slack: SlackServer):
    d, rec, _ = make(slack, retry={"max_attempts": 50, "max_backoff_seconds": 0.2}, digest_threshold=100)
    await slack.go_down()
    futures = [await d.submit(note(i)) for i in range(1, 6)]
    await asyncio.sleep(1.0)
    assert slack.received == []  # refused while down
    assert d.metrics.queue_depth == 5 and d.metrics.retries >= 5
    await slack.come_back()
    results = await asyncio.wait_for(asyncio.gather(*futures), 10)
    assert all(r == {"slack:#sales": "delivered"} for r in results)
    await asyncio.sleep(0.3)  # nothing more trickles in
    assert sorted(ids(slack.posted)) == sorted(f"payment-to-sales:evt_{i}" for i in range(1, 6))
    assert len(slack.received) == 5
    retrying = [x for x in rec.deliveries if x.status == "retrying"]
    assert retrying and all(x.detail == "connection error: ClientConnectorError" for x in retrying)
    await d.stop()


async def test_channel_not_found_is_failed_after_bounded_attempts(slack: SlackServer):
    slack.unknown_channels.add(HOOK)
    d, rec, ledger = make(slack, retry={"permanent_max_attempts": 2})
    assert await d.deliver(note(1)) == {"slack:#sales": "failed"}
    assert [r.status for r in slack.received] == [404, 404]
    assert rec.statuses() == [(1, "retrying"), (2, "failed")]
    assert rec.deliveries[-1].detail == "permanent: HTTP 404: channel_not_found"
    assert ledger.entries == set() and d.metrics.failed == 1
    await d.stop()


async def test_web_api_channel_not_found_is_permanent(slack: SlackServer):
    slack.unknown_channels.add("#sales")
    d, rec, _ = make(slack, webhook=False, retry={"permanent_max_attempts": 1})
    assert await d.deliver(note(1)) == {"slack:#sales": "failed"}
    assert len(slack.received) == 1
    assert rec.deliveries[-1].detail == "permanent: channel_not_found"
    await d.stop()


async def test_archived_channel_410_is_permanent(slack: SlackServer):
    slack.archived.add(HOOK)
    d, rec, _ = make(slack, retry={"permanent_max_attempts": 1})
    assert await d.deliver(note(1)) == {"slack:#sales": "failed"}
    assert rec.deliveries[-1].detail == "permanent: HTTP 410: channel_is_archived"
    await d.stop()


async def test_retryable_errors_stop_after_max_attempts(slack: SlackServer):
    d, rec, _ = make(slack, retry={"max_attempts": 3})
    slack.fail_for(30, status=503)
    assert await d.deliver(note(1)) == {"slack:#sales": "failed"}
    assert len(slack.received) == 3
    assert rec.statuses() == [(1, "retrying"), (2, "retrying"), (3, "failed")]
    assert rec.deliveries[-1].detail == "retryable: HTTP 503: service_unavailable"
    await d.stop()


async def test_oversized_message_is_accepted_by_slack(slack: SlackServer):
    d, _, _ = make(slack)
    n = note(1).model_copy(update={"text": "lorem ipsum dolor " * 1000})  # 18,000 characters
    assert await d.deliver(n) == {"slack:#sales": "delivered"}  # the server refuses anything over Slack's limits
    blocks = slack.posted[0].body["blocks"]
    assert len(blocks) <= 50 and sum("lorem" in json.dumps(b) for b in blocks) >= 6
    await d.stop()


async def test_the_server_really_refuses_what_slack_refuses(slack: SlackServer):
    # Guards the test above: without the fitting step, Slack (and this server) says invalid_blocks.
    settings = Settings(slack={"webhook_url": slack.webhook_url(HOOK)})
    channel: SlackChannel = build_channels(settings)["slack"]  # type: ignore[assignment]
    payload = channel.payload("#sales", [note(1)])
    payload["blocks"][1]["text"]["text"] = "x" * 3001
    resp = await channel._webhook(slack.webhook_url(HOOK)).send_dict(payload)
    assert (resp.status_code, resp.body) == (400, "invalid_blocks")
    await channel.aclose()
