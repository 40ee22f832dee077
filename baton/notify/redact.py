"""Keep secrets out of error text and logs.

Channels build their own error strings, but library exceptions can quote a
URL (a Slack webhook URL *is* the credential). Every string that leaves a
channel goes through ``Redactor.clean`` as a last line of defence.
"""

from __future__ import annotations

import logging
import weakref
from typing import Iterable
from urllib.parse import urlsplit

from pydantic import SecretStr

from baton.notify.outcome import Outcome, Permanent, Retryable
from baton.settings import Settings

MASK = "[redacted]"


class Redactor:
    def __init__(self, secrets: Iterable[str | SecretStr | None] = ()) -> None:
        found: set[str] = set()
        for s in secrets:
            raw = s.get_secret_value() if isinstance(s, SecretStr) else s
            if not raw:
                continue
            found.add(raw)
            path = urlsplit(raw).path
            if raw.startswith(("http://", "https://")) and len(path) > 8:
                found.add(path)  # an error may quote only the path of a webhook URL
        # Longest first, so a URL is masked whole rather than leaving its host around a masked path.
        self._secrets = sorted(found, key=len, reverse=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Redactor":
        return cls(
            [settings.slack.webhook_url, settings.slack.bot_token, settings.smtp.password]
            + [t.slack_webhook_url for t in settings.routing.teams.values()]
        )

    def clean(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, MASK)
        return text

    def outcome(self, outcome: Outcome) -> Outcome:
        if isinstance(outcome, Retryable):
            return Retryable(self.clean(outcome.error), outcome.retry_after)
        if isinstance(outcome, Permanent):
            return Permanent(self.clean(outcome.error), outcome.final)
        return outcome


class RedactingFilter(logging.Filter):
    """A logging filter that masks the secrets of every redactor added to it."""

    def __init__(self, *redactors: Redactor) -> None:
        super().__init__()
        # Weak: a filter on a module-level logger must not keep every channel's redactor alive.
        self.redactors: weakref.WeakSet[Redactor] = weakref.WeakSet(redactors)

    def add(self, redactor: Redactor) -> None:
        self.redactors.add(redactor)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for r in list(self.redactors):
            message = r.clean(message)
        record.msg, record.args = message, None
        return True
