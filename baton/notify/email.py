"""The email channel: one multipart (plain text + HTML) message per recipient, via aiosmtplib.

Transport security follows ``settings.smtp``: ``use_tls`` for implicit TLS
(port 465), ``starttls`` to require STARTTLS (port 587), certificates checked
against the system store or ``ca_file``; ``username``/``password`` log in.

SMTP answers, mapped to outcomes: 2xx delivered; 4xx (greylisting, mailbox
busy, too many connections) retryable; 5xx (unknown user, relay denied,
authentication refused) permanent; no answer (refused, reset, timeout)
retryable. An address that is not one is permanent before any connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from email.message import EmailMessage
from email.utils import formatdate
from typing import Sequence

import aiosmtplib

from baton.notify.outcome import Delivered, Outcome, Permanent, Retryable
from baton.notify.redact import Redactor
from baton.notify.render import RenderError, Renderer
from baton.settings import SmtpSettings
from baton.streams.records import Notification

# Deliberately plain: one @, no spaces or angle brackets, a dot in the domain. The server has the last word.
_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


def valid_address(address: str) -> bool:
    return bool(_ADDRESS.match(address))


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"


def _by_code(code: int, what: str) -> Outcome:
    error = f"SMTP {code}: {what}"
    return Permanent(error) if code >= 500 else Retryable(error)


class EmailChannel:
    kind = "email"

    def __init__(self, settings: SmtpSettings, renderer: Renderer, redactor: Redactor) -> None:
        self.settings = settings
        self.renderer = renderer
        self.redactor = redactor

    def configured(self, destination: str) -> bool:
        return bool(self.settings.host)

    def message(self, recipient: str, notes: Sequence[Notification]) -> EmailMessage:
        rendered = self.renderer.email(notes)
        msg = EmailMessage()
        msg["Subject"] = rendered.subject
        msg["From"] = self.settings.sender
        msg["To"] = recipient
        msg["Date"] = formatdate(localtime=False)
        # The same notification and recipient always get the same Message-ID, so a resend after
        # a crash is recognisable (and collapsed by many mail clients) as the same message.
        key = "|".join(n.id for n in notes) + "|" + recipient
        msg["Message-ID"] = f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@baton>"
        msg["X-Baton-Notification-Id"] = notes[0].id if len(notes) == 1 else f"digest of {len(notes)}"
        msg.set_content(rendered.text)
        msg.add_alternative(rendered.html, subtype="html")
        return msg

    async def send(self, destination: str, notes: Sequence[Notification]) -> Outcome:
        s = self.settings
        if not s.host:
            return Permanent("smtp is not configured")
        if not valid_address(destination):
            return Permanent("invalid email address")
        try:
            msg = self.message(destination, notes)
        except RenderError as e:
            return Permanent(f"could not render the message: {e}", final=True)
        try:
            await aiosmtplib.send(
                msg,
                sender=s.sender,
                recipients=[destination],
                hostname=s.host,
                port=s.port,
                username=s.username,
                password=s.password.get_secret_value() if s.password else None,
                use_tls=s.use_tls,
                start_tls=True if s.starttls and not s.use_tls else False,
                validate_certs=s.validate_certs,
                cert_bundle=str(s.ca_file) if s.ca_file else None,
                timeout=s.timeout_seconds,
            )
            return Delivered()
        except aiosmtplib.SMTPRecipientsRefused as e:
            code = max((r.code for r in e.recipients), default=550)
            return self.redactor.outcome(_by_code(code, "recipient refused"))
        except aiosmtplib.SMTPAuthenticationError as e:
            return self.redactor.outcome(_by_code(e.code, "authentication failed"))
        except aiosmtplib.SMTPResponseException as e:
            return self.redactor.outcome(_by_code(e.code, _short(e.message)))
        except (aiosmtplib.SMTPException, asyncio.TimeoutError, OSError) as e:
            return Retryable(f"connection error: {type(e).__name__}")


    async def aclose(self) -> None:
        return None
