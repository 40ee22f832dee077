"""Contract every channel keeps: failures come back as outcomes whose text (and logs) hold no secret."""

from __future__ import annotations

import logging
import socket

import pytest

from baton.notify import build_channels
from baton.notify.outcome import Delivered, Permanent, Retryable
from baton.notify.redact import Redactor
from baton.settings import Settings
from baton.streams.records import Cause, Notification
from slack_server import SlackServer

pytestmark = pytest.mark.timeout(30)

HOOK_SECRET = "T0SECRET/B0SECRET/abcdefSECRETxyz"
TOKEN = "xoxb-9999-SECRET-token"
PASSWORD = "smtp-SECRET-password"


def note() -> Notification:
    return Notification(
        id="payment-failed:evt_1", rule="payment-failed", team="sales", severity="warning", account_id="acct_1",
        title="Payment failed: Acme, $5.00", text="Payment pay_1 of $5.00 from Acme failed: card_declined.",
        channels=["slack:#sales"], cause=Cause(event_id="evt_1", type="payment.failed"),
        created_at="2026-11-22T10:04:00.120Z", facts={"company": "Acme", "reason": "card_declined"},
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_clean(text: str) -> None:
    for secret in ("SECRET", HOOK_SECRET, TOKEN, PASSWORD):
        assert secret not in text, text


async def test_slack_webhook_errors_hold_no_secret(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    async with SlackServer() as slack:
        settings = Settings(slack={"webhook_url": slack.webhook_url(HOOK_SECRET)})
        slack_channel = build_channels(settings)["slack"]
        slack.unknown_channels.add(HOOK_SECRET)
        slack.rate_limit_next(1, retry_after=3)
        outcomes = [await slack_channel.send("#sales", [note()]) for _ in range(2)]
        await slack.go_down()
        outcomes.append(await slack_channel.send("#sales", [note()]))
        await slack_channel.aclose()
    assert isinstance(outcomes[0], Retryable) and outcomes[0].retry_after == 3
    assert outcomes[1] == Permanent("HTTP 404: channel_not_found")
    assert isinstance(outcomes[2], Retryable)
    for o in outcomes:
        assert_clean(o.error)  # type: ignore[union-attr]
    assert_clean(caplog.text)


async def test_slack_web_api_errors_hold_no_secret(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    async with SlackServer(token="xoxb-the-right-one") as slack:
        settings = Settings(slack={"bot_token": TOKEN, "api_url": slack.api_url})
        channel = build_channels(settings)["slack"]
        outcome = await channel.send("#sales", [note()])
        await channel.aclose()
    assert outcome == Permanent("invalid_auth")
    assert_clean(caplog.text)


async def test_slack_unreachable_host_holds_no_secret():
    url = f"http://127.0.0.1:{closed_port()}/services/{HOOK_SECRET}"
    channel = build_channels(Settings(slack={"webhook_url": url}))["slack"]
    outcome = await channel.send("#sales", [note()])
    await channel.aclose()
    assert isinstance(outcome, Retryable)
    assert_clean(outcome.error)


async def test_email_errors_hold_no_secret(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    settings = Settings(smtp={"host": "127.0.0.1", "port": closed_port(), "username": "u", "password": PASSWORD, "timeout_seconds": 2})
    channel = build_channels(settings)["email"]
    outcome = await channel.send("finance@example.com", [note()])
    assert isinstance(outcome, Retryable)
    assert_clean(outcome.error)
    assert_clean(caplog.text)


@pytest.mark.parametrize("kind", ["slack", "email", "console"])
def test_every_channel_knows_whether_it_is_configured(kind: str):
    bare = build_channels(Settings())[kind]
    assert bare.kind == kind
    assert bare.configured("#sales" if kind == "slack" else "a@b.example") is (kind == "console")


async def test_console_sends_single_and_digest():
    channel = build_channels(Settings())["console"]
    assert isinstance(await channel.send("", [note(), note()]), Delivered)


def test_redactor_masks_whole_urls_and_bare_paths():
    url = f"https://hooks.slack.com/services/{HOOK_SECRET}"
    r = Redactor([url, TOKEN, None])
    assert r.clean(f"POST {url} failed") == "POST [redacted] failed"
    assert r.clean(f"bad path /services/{HOOK_SECRET}") == "bad path [redacted]"
    assert r.clean(f"Bearer {TOKEN}") == "Bearer [redacted]"
    assert r.outcome(Retryable(f"x {TOKEN}", 2)) == Retryable("x [redacted]", 2)


async def test_console_writes_plain_lines_when_not_at_a_terminal():
    import io

    from baton.notify.console import ConsoleChannel

    out = io.StringIO()
    channel = ConsoleChannel(stream=out)
    a = note()
    assert isinstance(await channel.send("", [a, note()], note="no slack channel"), Delivered)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0] == f"[{a.severity}] {a.rule} → {a.team}: {a.title} — {a.text} (no slack channel)"
