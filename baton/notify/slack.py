"""The Slack channel: incoming webhooks and chat.postMessage, through slack-sdk.

Which of the two serves a destination is routing's answer
(``Routing.slack_target``). slack-sdk's own retry handlers are switched off:
retrying is the dispatcher's job, and a hidden retry would blur the
attempt count and the ``Retry-After`` we honour. Both clients share one
aiohttp session, created in the running loop on first use.

Slack's answers, mapped to outcomes:

* webhook: 200 ``ok`` delivered; 429 retryable with ``Retry-After``; 5xx and
  408 retryable; other 4xx (404 ``channel_not_found``, 410
  ``channel_is_archived``, 403, 400) permanent.
* Web API: ``{"ok": true}`` delivered; ``ratelimited``/429 retryable with
  ``Retry-After``; 5xx and Slack's transient errors retryable; any other
  ``error`` (``channel_not_found``, ``not_in_channel``, ``invalid_auth``...)
  permanent.
* no answer (refused, reset, timeout): retryable.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Mapping, Sequence

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from baton.notify.outcome import Delivered, Outcome, Permanent, Retryable
from baton.notify.redact import RedactingFilter, Redactor
from baton.notify.render import RenderError, Renderer
from baton.notify.routing import Routing
from baton.settings import SlackSettings
from baton.streams.records import Notification

# slack-sdk logs the webhook URL (the credential) at DEBUG: give it a logger that never goes below INFO
# and masks secrets in anything it does log.
_sdk_log = logging.getLogger("baton.notify.slack_sdk")
_sdk_log.setLevel(logging.INFO)
_sdk_redaction = RedactingFilter()
_sdk_log.addFilter(_sdk_redaction)

_TRANSIENT_API_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a ``Retry-After`` header (Slack sends whole seconds), or None."""
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"


def classify_http(status: int, body: str, headers: Mapping[str, str] | None) -> Outcome:
    """A webhook's (or any Slack endpoint's) HTTP answer as an outcome."""
    if 200 <= status < 300:
        return Delivered()
    error = f"HTTP {status}: {_short(body) or 'no body'}"
    if status == 429:
        return Retryable(error, retry_after(headers))
    if status >= 500 or status == 408:
        return Retryable(error)
    return Permanent(error)


def classify_api_error(e: SlackApiError) -> Outcome:
    resp = e.response
    status = getattr(resp, "status_code", 0) or 0
    data = getattr(resp, "data", None)
    code = data.get("error") if isinstance(data, dict) else None
    error = str(code or "error") if status == 200 else f"HTTP {status}: {code or 'error'}"
    if status == 429 or code == "ratelimited":
        return Retryable(error, retry_after(getattr(resp, "headers", None)))
    if status >= 500 or code in _TRANSIENT_API_ERRORS:
        return Retryable(error)
    return Permanent(error)


class SlackChannel:
    kind = "slack"

    def __init__(
        self, settings: SlackSettings, routing: Routing, renderer: Renderer, redactor: Redactor, *, timeout: float = 10.0
    ) -> None:
        self.settings = settings
        self.routing = routing
        self.renderer = renderer
        self.redactor = redactor
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._webhooks: dict[str, AsyncWebhookClient] = {}
        self._web: AsyncWebClient | None = None
        _sdk_redaction.add(redactor)

    def configured(self, destination: str) -> bool:
        return self.routing.slack_target(destination) is not None

    def payload(self, destination: str, notes: Sequence[Notification]) -> dict[str, Any]:
        """The Block Kit message for ``notes`` (mentioning the owner in a single notification)."""
        mention = None
        if len(notes) == 1 and not destination.startswith("@"):
            mention = self.routing.slack_mention(notes[0].facts)
        return self.renderer.slack(notes, mention=mention)

    async def send(self, destination: str, notes: Sequence[Notification]) -> Outcome:
        target = self.routing.slack_target(destination)
        if target is None:
            return Permanent("slack is not configured for this destination")
        try:
            payload = self.payload(destination, notes)
        except RenderError as e:
            return Permanent(f"could not render the message: {e}", final=True)
        try:
            if target.webhook_url:
                resp = await self._webhook(target.webhook_url).send_dict(payload)
                return self.redactor.outcome(classify_http(resp.status_code, resp.body, resp.headers))
            # Message metadata carries the notification ids, so Slack-side tooling (and tests)
            # can tell which notifications a message holds without parsing its text.
            metadata = {"event_type": "baton_notification", "event_payload": {"ids": [n.id for n in notes]}}
            await self._client().chat_postMessage(channel=target.channel, text=payload["text"], blocks=payload["blocks"],
                                                  metadata=metadata)
            return Delivered()
        except SlackApiError as e:
            return self.redactor.outcome(classify_api_error(e))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            # The exception text can hold the URL; its type says enough.
            return Retryable(f"connection error: {type(e).__name__}")

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    def _webhook(self, url: str) -> AsyncWebhookClient:
        client = self._webhooks.get(url)
        if client is None or client.session is not self._session_now():
            client = AsyncWebhookClient(
                url, timeout=int(self.timeout), session=self._session_now(), retry_handlers=[], logger=_sdk_log
            )
            self._webhooks[url] = client
        return client

    def _client(self) -> AsyncWebClient:
        if self._web is None or self._web.session is not self._session_now():
            assert self.settings.bot_token is not None  # slack_target chose the Web API only with a token
            base_url = self.settings.api_url if self.settings.api_url.endswith("/") else self.settings.api_url + "/"
            self._web = AsyncWebClient(
                token=self.settings.bot_token.get_secret_value(),
                base_url=base_url,
                timeout=int(self.timeout),
                session=self._session_now(),
                retry_handlers=[],
                logger=_sdk_log,
            )
        return self._web

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
