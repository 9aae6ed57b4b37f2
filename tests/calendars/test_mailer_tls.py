"""Invites over an SMTP relay that wants encryption and a password: STARTTLS and implicit TLS against a real
aiosmtpd server with its own certificate, trusted the way an operator trusts a private CA (SSL_CERT_FILE)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from chat_server.mailer import Mailer, SmtpSettings, invite_message
from tests.calendars.conftest import Mailbox, _free_port
from tests.server.test_tls_config import Cert, make_cert

USER, SECRET = "invites@acme.example", "relay-password"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    given = [v.decode() if isinstance(v, bytes) else v for v in (data.login, data.password)]
    ok = isinstance(data, LoginPassword) and given == [USER, SECRET]
    return AuthResult(success=ok)


@pytest.fixture
def cert(tmp_path: Path) -> Cert:
    return make_cert(tmp_path)


@pytest.fixture
def relay(cert: Cert, request: pytest.FixtureRequest) -> Iterator[tuple[Mailbox, int]]:
    """``request.param``: "starttls" (STARTTLS required before AUTH) or "tls" (implicit TLS)."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert.cert, cert.key)
    mailbox, port = Mailbox(), _free_port()
    options: dict[str, Any] = {"authenticator": _authenticate}
    if request.param == "starttls":
        # no mail without AUTH, and no AUTH before STARTTLS
        options |= {"tls_context": server_ctx, "require_starttls": True, "auth_require_tls": True,
                    "auth_required": True}  # fmt: skip
    else:  # implicit TLS: the whole connection is encrypted (aiosmtpd's auth_require_tls only knows STARTTLS)
        options |= {"ssl_context": server_ctx, "auth_require_tls": False}
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, server_hostname="localhost", **options)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def _message() -> Any:
    ics = b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"
    return invite_message(sender=USER, to=["dana@globex.example"], subject="Intro call", text="See you",
                          ics=ics, method="REQUEST")  # fmt: skip


@pytest.mark.parametrize("relay", ["starttls", "tls"], indirect=True)
async def test_invites_go_out_encrypted_and_signed_in(
    relay: tuple[Mailbox, int], cert: Cert, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    mailbox, port = relay
    security = request.node.callspec.params["relay"]
    monkeypatch.setenv("SSL_CERT_FILE", str(cert.cert))  # the relay's private CA, as an operator sets it
    mailer = Mailer(SmtpSettings("localhost", port, security, USER, SECRET))
    await mailer.send(_message())
    assert mailbox.recipients == [["dana@globex.example"]]
    assert mailbox.messages[0].get_content_type() == "multipart/mixed"


@pytest.mark.parametrize("relay", ["starttls"], indirect=True)
async def test_an_untrusted_relay_certificate_is_refused(relay: tuple[Mailbox, int]) -> None:
    mailbox, port = relay
    mailer = Mailer(SmtpSettings("localhost", port, "starttls", USER, SECRET))
    with pytest.raises(ssl.SSLCertVerificationError):
        await mailer.send(_message())  # never the password to a relay we cannot verify
    assert mailbox.messages == []
