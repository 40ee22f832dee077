"""A local HTTP server that speaks Slack's contract, for tests and benches.

It answers the two ways Baton posts to Slack, as Slack does:

* incoming webhooks, ``POST /services/<T>/<B>/<secret>``: ``200 ok``;
  ``404 channel_not_found``, ``410 channel_is_archived``, ``400 no_text``;
  ``429 rate_limited`` with ``Retry-After``;
* the Web API, ``POST /api/chat.postMessage`` with ``Authorization: Bearer``:
  ``{"ok": true, ...}``, or ``{"ok": false, "error": "channel_not_found"}``
  (HTTP 200, as Slack answers); ``invalid_auth``; 429 ``ratelimited``;
* both refuse a message over Slack's limits (more than 50 blocks, a section
  text over 3,000 characters, more than 10 fields): ``invalid_blocks``.

It records every request it answered, with its JSON, its arrival time
(``time.monotonic()``) and the status it got, and can be scripted:
``rate_limit_next(k, retry_after)``, ``fail_next(k, status)``,
``fail_for(seconds)``, ``go_down()`` (stop listening: connection refused)
and ``come_back()`` on the same port, ``unknown_channels`` / ``archived``.

In a test (same event loop)::

    async with SlackServer() as slack:
        url = slack.webhook_url("T1/B1/sales")

From a benchmark or another process' point of view, ``python tests/slack_server.py --port 8099``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web


@dataclass
class Received:
    kind: str  # "webhook" or "api"
    path: str
    body: dict[str, Any] | None
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival
    status: int  # the HTTP status it was answered with
    ok: bool  # whether Slack would have posted it

    @property
    def target(self) -> str:
        """The webhook's name (``T1/B1/sales``) or the API call's channel."""
        if self.kind == "webhook":
            return self.path.removeprefix("/services/")
        return str((self.body or {}).get("channel", ""))


@dataclass
class SlackServer:
    host: str = "127.0.0.1"
    port: int = 0
    token: str = "xoxb-test-token"
    unknown_channels: set[str] = field(default_factory=set)  # webhook names or API channels
    archived: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._script: deque[tuple[int, float | None]] = deque()
        self._fail_until = 0.0
        self._fail_status = 500
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Condition()

    # --- life cycle -------------------------------------------------------------------

    async def start(self) -> "SlackServer":
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        if self.port == 0:
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()  # closes the listener and open keep-alive connections
            self._runner = None

    async def go_down(self) -> None:
        """Stop listening: clients get "connection refused" until ``come_back``."""
        await self.stop()

    async def come_back(self) -> None:
        await self.start()

    def down_for(self, seconds: float) -> asyncio.Task[None]:
        """Go down now and come back after ``seconds`` (returns the task that brings it back)."""

        async def outage() -> None:
            await self.go_down()
            await asyncio.sleep(seconds)
            await self.come_back()

        return asyncio.create_task(outage())

    async def __aenter__(self) -> "SlackServer":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- addresses ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def webhook_url(self, name: str = "T000/B000/XXXXXXXXXXXXXXXX") -> str:
        return f"{self.url}/services/{name}"

    # --- scripting -------------------------------------------------------------------------

    def rate_limit_next(self, k: int = 1, retry_after: float = 1) -> None:
        """Answer the next ``k`` requests 429 with ``Retry-After: retry_after``."""
        self._script.extend([(429, retry_after)] * k)

    def fail_next(self, k: int = 1, status: int = 500) -> None:
        self._script.extend([(status, None)] * k)

    def fail_for(self, seconds: float, status: int = 500) -> None:
        """Answer every request with ``status`` for the next ``seconds``."""
        self._fail_until = time.monotonic() + seconds
        self._fail_status = status

    # --- what arrived ------------------------------------------------------------------------

    @property
    def posted(self) -> list[Received]:
        """Requests Slack would have posted to a channel."""
        return [r for r in self.received if r.ok]

    async def wait_for_posts(self, count: int, timeout: float = 10.0) -> list[Received]:
        async def enough() -> None:
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.posted) >= count)

        await asyncio.wait_for(enough(), timeout)
        return self.posted

    # --- the contract ---------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        now = time.monotonic()
        path = request.path
        kind = "webhook" if path.startswith("/services/") else "api"
        body = _parse(raw, request.content_type)
        response, ok = self._answer(kind, path, body, request.headers.get("Authorization", ""), now)
        self.received.append(Received(kind, path, body, dict(request.headers), now, response.status, ok))
        async with self._arrived:
            self._arrived.notify_all()
        return response

    def _answer(self, kind: str, path: str, body: dict[str, Any] | None, auth: str, now: float) -> tuple[web.Response, bool]:
        if self._script:
            status, retry_after = self._script.popleft()
            return _error(kind, status, retry_after), False
        if now < self._fail_until:
            return _error(kind, self._fail_status, None), False
        if kind == "webhook":
            name = path.removeprefix("/services/")
            if name in self.unknown_channels:
                return web.Response(status=404, text="channel_not_found"), False
            if name in self.archived:
                return web.Response(status=410, text="channel_is_archived"), False
            if not body or not (body.get("text") or body.get("blocks")):
                return web.Response(status=400, text="no_text"), False
            if not within_limits(body.get("blocks")):
                return web.Response(status=400, text="invalid_blocks"), False
            return web.Response(status=200, text="ok"), True
        if path != "/api/chat.postMessage":
            return web.json_response({"ok": False, "error": "unknown_method"}, status=404), False
        if auth != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"}), False
        channel = str((body or {}).get("channel", ""))
        if not channel or channel in self.unknown_channels:
            return web.json_response({"ok": False, "error": "channel_not_found"}), False
        if channel in self.archived:
            return web.json_response({"ok": False, "error": "is_archived"}), False
        if not (body or {}).get("text") and not (body or {}).get("blocks"):
            return web.json_response({"ok": False, "error": "no_text"}), False
        if not within_limits((body or {}).get("blocks")):
            return web.json_response({"ok": False, "error": "invalid_blocks"}), False
        ts = f"{time.time():.6f}"
        return web.json_response({"ok": True, "channel": channel, "ts": ts, "message": {"ts": ts}}), True


def within_limits(blocks: Any) -> bool:
    """Slack's Block Kit limits that Baton must respect."""
    if blocks is None:
        return True
    if not isinstance(blocks, list) or len(blocks) > 50:
        return False
    for block in blocks:
        if block.get("type") == "section":
            if len((block.get("text") or {}).get("text", "")) > 3000:
                return False
            fields = block.get("fields") or []
            if len(fields) > 10 or any(len(f.get("text", "")) > 2000 for f in fields):
                return False
    return True


def _parse(raw: bytes, content_type: str) -> dict[str, Any] | None:
    try:
        if content_type == "application/x-www-form-urlencoded":
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            if isinstance(form.get("blocks"), str):
                form["blocks"] = json.loads(form["blocks"])
            return form
        value = json.loads(raw) if raw else None
        return value if isinstance(value, dict) else None
    except ValueError:
        return None


def _error(kind: str, status: int, retry_after: float | None) -> web.Response:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    if kind == "webhook":
        text = {429: "rate_limited", 500: "internal_error", 503: "service_unavailable"}.get(status, "error")
        return web.Response(status=status, text=text, headers=headers)
    error = {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}.get(status, "error")
    return web.json_response({"ok": False, "error": error}, status=status, headers=headers)


async def _serve(port: int) -> None:
    server = await SlackServer(port=port).start()
    print(f"Slack-contract server on {server.url} (webhooks {server.webhook_url('T/B/x')}, API {server.api_url})")
    print(f"bot token: {server.token}  (a test token, not a secret)")
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    try:
        asyncio.run(_serve(parser.parse_args().port))
    except KeyboardInterrupt:
        pass
