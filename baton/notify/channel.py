"""The one interface every channel implements, and the registry that builds them.

A channel renders and sends; it does not retry, sleep or count. It answers
each attempt with an ``Outcome`` (see ``outcome.py``), so backoff, rate
limits, digests, metrics and the ledger live once, in the dispatcher.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence

from baton.notify.outcome import Outcome
from baton.streams.records import Notification

if TYPE_CHECKING:
    from rich.console import Console

    from baton.notify.redact import Redactor
    from baton.notify.render import Renderer
    from baton.notify.routing import Routing
    from baton.settings import Settings


class Channel(Protocol):
    kind: str  # the prefix of the channel strings it serves: "slack", "email", "console"

    def configured(self, destination: str) -> bool:
        """Whether this destination can be reached at all (else the dispatcher prints it)."""
        ...

    async def send(self, destination: str, notes: Sequence[Notification]) -> Outcome:
        """Send one message: the notification, or a digest when ``notes`` holds several."""
        ...

    async def aclose(self) -> None: ...


def build_channels(
    settings: "Settings",
    *,
    routing: "Routing | None" = None,
    renderer: "Renderer | None" = None,
    redactor: "Redactor | None" = None,
    console: "Console | None" = None,
) -> dict[str, Channel]:
    """One instance per channel kind, from the settings."""
    from baton.notify.console import ConsoleChannel
    from baton.notify.email import EmailChannel
    from baton.notify.redact import Redactor
    from baton.notify.render import Renderer
    from baton.notify.routing import Routing
    from baton.notify.slack import SlackChannel

    routing = routing or Routing(settings)
    renderer = renderer or Renderer()
    redactor = redactor or Redactor.from_settings(settings)
    timeout = settings.delivery.request_timeout_seconds
    channels: list[Channel] = [
        SlackChannel(settings.slack, routing, renderer, redactor, timeout=timeout),
        EmailChannel(settings.smtp, renderer, redactor),
        ConsoleChannel(console),
    ]
    return {c.kind: c for c in channels}
