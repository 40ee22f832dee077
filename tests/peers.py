"""Real peers for end-to-end tests, run in background threads: a Slack-contract HTTP server and an SMTP server."""

from __future__ import annotations

import asyncio
import email
import json
import threading
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from slack_server import SlackServer
from worker_process import free_port


class SlackThread:
    """``SlackServer`` on its own event loop in a thread, driven from synchronous tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="slack-server", daemon=True)
        self.thread.start()
        self.server: SlackServer = self.call(SlackServer(port=free_port()).start())

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def run(self, fn, *args):
        """Run a plain method of the server on its loop (its state is not thread-safe)."""
        async def wrapper():
            return fn(*args)
        return self.call(wrapper())

    def ids_received(self) -> list[str]:
        """Notification ids of every message Slack accepted, from chat.postMessage metadata."""
        def collect() -> list[str]:
            ids = []
            for got in self.server.received:
                if got.ok and got.body:
                    ids += (got.body.get("metadata") or {}).get("event_payload", {}).get("ids", [])
            return ids
        return self.run(collect)

    def bodies(self) -> list[dict[str, Any]]:
        return self.run(lambda: [r.body for r in self.server.received if r.ok and r.body])

    def close(self) -> None:
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


class SmtpSink:
    """A real SMTP server (aiosmtpd) on loopback that keeps every message."""

    def __init__(self) -> None:
        self.inbox = _Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def messages(self) -> list[Message]:
        with self.inbox.lock:
            return list(self.inbox.messages)

    def close(self) -> None:
        self.controller.stop()


def slack_env(slack: SlackThread) -> dict[str, str]:
    return {"BATON_SLACK__BOT_TOKEN": slack.server.token, "BATON_SLACK__API_URL": slack.server.api_url}


def smtp_env(smtp: SmtpSink) -> dict[str, str]:
    return {"BATON_SMTP__HOST": "127.0.0.1", "BATON_SMTP__PORT": str(smtp.port),
            "BATON_SMTP__SENDER": "baton@example.com"}


def as_json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)
