"""Email delivery against a real SMTP server (aiosmtpd): multipart, escaped, TLS, auth, refusals."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from baton.notify import Dispatcher, InMemoryLedger
from baton.settings import Settings
from baton.streams.records import Cause, Delivery, Notification

pytestmark = pytest.mark.timeout(30)

FAST_RETRY = {"initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.2, "jitter": 0.0}
PASSWORD = "s3cret-smtp-pass"


def note(i: int = 1, company: str = "Acme", **update: Any) -> Notification:
    n = Notification(
        id=f"signup-to-finance:evt_{i}", rule="signup-to-finance", team="finance", severity="info", account_id="acct_1",
        title=f"New sign-up: {company}", text=f"New customer to bill: {company} <ops@acme.example> (plan pro).",
        channels=["email:finance@example.com"], cause=Cause(event_id=f"evt_{i}", type="signup.created"),
        created_at="2026-11-22T10:04:00.120Z", facts={"company": company, "email": "ops@acme.example", "plan": "pro"},
    )
    return n.model_copy(update=update)


class Inbox:
    """aiosmtpd handler: keeps every accepted message; refuses recipients at nobody@."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, EmailMessage]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd's name)
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user"
        if address.startswith("busy@"):
            return "451 4.3.0 Mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append((envelope, message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt, "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )
    return crt, key


def server_tls(cert: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*cert)
    return ctx


def authenticate(server, session, envelope, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"baton" and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def dispatcher(smtp_cfg: dict[str, Any], **delivery: Any) -> tuple[Dispatcher, list[Delivery]]:
    records: list[Delivery] = []

    async def record(d: Delivery) -> None:
        records.append(d)

    settings = Settings(
        smtp={"sender": "baton@example.com", "timeout_seconds": 5, **smtp_cfg},
        delivery={"rate_limits": {"email": 0}, "retry": FAST_RETRY, **delivery},
    )
    return Dispatcher.from_settings(settings, ledger=InMemoryLedger(), on_delivery=record), records


async def test_multipart_email_with_subject_and_both_bodies(smtp):
    inbox, port = smtp
    d, records = dispatcher({"host": "127.0.0.1", "port": port})
    assert await d.deliver(note(1)) == {"email:finance@example.com": "delivered"}
    [(envelope, msg)] = inbox.messages
    assert envelope.mail_from == "baton@example.com" and envelope.rcpt_tos == ["finance@example.com"]
    assert msg["Subject"] == "[Baton] New sign-up: Acme"
    assert msg["To"] == "finance@example.com" and msg["X-Baton-Notification-Id"] == "signup-to-finance:evt_1"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "New customer to bill: Acme <ops@acme.example> (plan pro)." in text
    assert "Plan: pro" in text and "Next step: Set up billing for the new customer." in text
    assert "New customer to bill: Acme &lt;ops@acme.example&gt; (plan pro)." in html
    assert '<th style="text-align:left;padding:2px 12px 2px 0;color:#616061;font-weight:normal;">Plan</th><td style="padding:2px 0;">pro</td>' in html
    assert [(r.attempt, r.status) for r in records] == [(1, "delivered")]
    await d.stop()


async def test_script_and_channel_in_a_company_name_are_escaped_in_html(smtp):
    inbox, port = smtp
    d, _ = dispatcher({"host": "127.0.0.1", "port": port})
    await d.deliver(note(1, company="<!channel><script>alert(1)</script> & Co"))
    [(_, msg)] = inbox.messages
    html = msg.get_body(("html",)).get_content()
    assert "<script>" not in html and "<!channel>" not in html
    assert "&lt;!channel&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html
    await d.stop()


async def test_refused_recipient_is_permanent_and_bounded(smtp):
    inbox, port = smtp
    d, records = dispatcher({"host": "127.0.0.1", "port": port}, retry={**FAST_RETRY, "permanent_max_attempts": 2})
    result = await d.deliver(note(1, channels=["email:nobody@example.com"]))
    assert result == {"email:nobody@example.com": "failed"}
    assert [(r.attempt, r.status) for r in records] == [(1, "retrying"), (2, "failed")]
    assert records[-1].detail == "permanent: SMTP 550: recipient refused"
    assert inbox.messages == []
    await d.stop()


async def test_temporary_refusal_is_retried(smtp):
    _, port = smtp
    d, records = dispatcher({"host": "127.0.0.1", "port": port}, retry={**FAST_RETRY, "max_attempts": 3})
    assert await d.deliver(note(1, channels=["email:busy@example.com"])) == {"email:busy@example.com": "failed"}
    assert [r.status for r in records] == ["retrying", "retrying", "failed"]
    assert records[-1].detail == "retryable: SMTP 451: recipient refused"
    await d.stop()


async def test_malformed_address_is_failed_without_a_connection():
    d, records = dispatcher({"host": "127.0.0.1", "port": free_port()}, retry={**FAST_RETRY, "permanent_max_attempts": 1})
    assert await d.deliver(note(1, channels=["email:not an address"])) == {"email:not an address": "failed"}
    assert records[-1].detail == "permanent: invalid email address"
    await d.stop()


async def test_server_down_is_retryable():
    d, records = dispatcher({"host": "127.0.0.1", "port": free_port()}, retry={**FAST_RETRY, "max_attempts": 2})
    assert await d.deliver(note(1)) == {"email:finance@example.com": "failed"}
    assert [r.status for r in records] == ["retrying", "failed"]
    assert records[0].detail.startswith("connection error: ")
    await d.stop()


async def test_starttls_and_auth(cert):
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=server_tls(cert), require_starttls=True,
        auth_required=True, auth_require_tls=True, authenticator=authenticate,
    )
    controller.start()
    try:
        cfg = {"host": "127.0.0.1", "port": port, "starttls": True, "username": "baton", "ca_file": str(cert[0])}
        d, _ = dispatcher({**cfg, "password": PASSWORD})
        assert await d.deliver(note(1)) == {"email:finance@example.com": "delivered"}
        assert len(inbox.messages) == 1
        await d.stop()
        # A wrong password is refused (535): permanent, and the password is in no record.
        d, records = dispatcher({**cfg, "password": "wrong-" + PASSWORD}, retry={**FAST_RETRY, "permanent_max_attempts": 1})
        assert await d.deliver(note(2)) == {"email:finance@example.com": "failed"}
        assert records[-1].detail == "permanent: SMTP 535: authentication failed"
        assert all(PASSWORD not in r.model_dump_json() for r in records)
        await d.stop()
        # Without STARTTLS the server refuses to go on.
        d, records = dispatcher({**cfg, "starttls": False, "password": PASSWORD}, retry={**FAST_RETRY, "permanent_max_attempts": 1})
        assert (await d.deliver(note(3)))["email:finance@example.com"] == "failed"
        assert len(inbox.messages) == 1
        await d.stop()
    finally:
        controller.stop()


async def test_implicit_tls_checks_the_certificate(cert):
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=server_tls(cert))
    controller.start()
    try:
        cfg = {"host": "127.0.0.1", "port": port, "use_tls": True}
        d, _ = dispatcher({**cfg, "ca_file": str(cert[0])})
        assert await d.deliver(note(1)) == {"email:finance@example.com": "delivered"}
        await d.stop()
        # Not trusting the self-signed certificate: no delivery.
        d, records = dispatcher(cfg, retry={**FAST_RETRY, "max_attempts": 1})
        assert await d.deliver(note(2)) == {"email:finance@example.com": "failed"}
        assert len(inbox.messages) == 1
        await d.stop()
    finally:
        controller.stop()
