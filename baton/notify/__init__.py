"""Turning notifications into messages people receive: routing, templates, channels, delivery.

The pieces, each in the module named by its job:

* ``routing``     which channels a rule's notification goes to (settings.routing)
* ``render``      Jinja2 templates -> Slack Block Kit / multipart email (``slack_limits`` keeps Slack happy)
* ``slack``, ``email``, ``console``  one module per channel, each answering an ``Outcome``
* ``dispatcher``  bounded queue, per-destination lanes: rate limit, digest, ledger, retry, report
* ``retry``, ``ratelimit``, ``digest``, ``ledger``, ``metrics``, ``redact``  the dispatcher's stages
"""

from baton.notify.channel import Channel, build_channels
from baton.notify.dispatcher import Dispatcher, DispatcherClosed
from baton.notify.ledger import DeliveryLedger, InMemoryLedger
from baton.notify.outcome import Delivered, Outcome, Permanent, Retryable
from baton.notify.render import Renderer, slack_escape
from baton.notify.routing import Routing, channels_for

__all__ = [
    "Channel",
    "Delivered",
    "DeliveryLedger",
    "Dispatcher",
    "DispatcherClosed",
    "InMemoryLedger",
    "Outcome",
    "Permanent",
    "Renderer",
    "Retryable",
    "Routing",
    "build_channels",
    "channels_for",
    "slack_escape",
]
