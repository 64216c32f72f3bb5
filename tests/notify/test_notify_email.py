"""Email through a real SMTP server (aiosmtpd) on loopback: plain, STARTTLS + AUTH, implicit TLS,
locale of subject/body, and how SMTP replies are classified."""

from __future__ import annotations

import email
import logging
import socket
import ssl
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from metricloop.notify.config import parse_channels
from metricloop.notify.message import Mention, Notification
from metricloop.notify.senders import Notifier

USER = "alerts"
PASSWORD = "smtp-pass-6c1f0d9e"

ALERT = Notification(
    kind="alert",
    metric="GMV",
    severity="critical",
    slice={"region": "华东"},
    value=70.0,
    expected=100.0,
    causes=["华东 app 转化率下降"],
    mentions=[Mention(name="张三", email="zhangsan@example.com")],
    incident_url="https://ml.example/incidents/1",
    ack_url="https://ml.example/a/1/ack?t=tok",
)


class Inbox:
    """aiosmtpd handler: keeps every message; refuses some recipients on purpose."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        if address.startswith("later@"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(msg, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def server_ctx(cert: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


@pytest.fixture
def smtp_server(request: pytest.FixtureRequest, cert: tuple[Path, Path]) -> Iterator[tuple[Inbox, int]]:
    mode = getattr(request, "param", "none")
    inbox = Inbox()
    port = free_port()
    kwargs: dict[str, Any] = {}
    if mode == "starttls":
        kwargs = {
            "tls_context": server_ctx(cert),
            "require_starttls": True,
            "authenticator": authenticator,
            "auth_require_tls": True,
        }
    elif mode == "ssl":
        kwargs = {"ssl_context": server_ctx(cert)}
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def email_channel(port: int, locale: str = "zh-CN", **smtp: Any) -> Any:
    spec = {
        "name": "mail",
        "type": "email",
        "locale": locale,
        "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "timeout_s": 5, **smtp},
        "sender": "metricloop@example.com",
        "to": ["ops@example.com"],
    }
    return parse_channels({"channels": [spec]}).channels[0]


def test_alert_arrives_in_chinese(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    with Notifier() as n:
        r = n.send(email_channel(port), ALERT, "inc-1-alert-1")
    assert r.outcome == "sent"
    ((rcpts, msg),) = inbox.messages
    assert sorted(rcpts) == ["ops@example.com", "zhangsan@example.com"]
    assert msg["Subject"] == "【严重】GMV 异常"
    assert msg["Message-ID"] == "<inc-1-alert-1@metricloop>"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "当前值: 70 (预期 100, -30.0%)" in text.get_content()
    assert "华东 app 转化率下降" in text.get_content()
    assert '<a href="https://ml.example/a/1/ack?t=tok">确认处理</a>' in html.get_content()


def test_alert_arrives_in_english(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    resolved = ALERT.model_copy(update={"kind": "resolved"})
    with Notifier() as n:
        assert n.send(email_channel(port, "en"), resolved, "r-1").outcome == "sent"
    ((_, msg),) = inbox.messages
    assert msg["Subject"] == "[Resolved] GMV is back to normal"
    body = msg.get_body(("plain",))
    assert body is not None
    assert "Value: 70 (expected 100, -30.0%)" in body.get_content()


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_starttls_with_auth(smtp_server: tuple[Inbox, int], cert: tuple[Path, Path]) -> None:
    inbox, port = smtp_server
    ch = email_channel(port, security="starttls", ca_file=str(cert[0]), username=USER, password=PASSWORD)
    with Notifier() as n:
        assert n.send(ch, ALERT, "tls-1").outcome == "sent"
    assert len(inbox.messages) == 1


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_wrong_password_is_permanent_and_not_logged(
    smtp_server: tuple[Inbox, int], cert: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    inbox, port = smtp_server
    bad = "wrong-pass-3d9e1a77"
    ch = email_channel(port, security="starttls", ca_file=str(cert[0]), username=USER, password=bad)
    with caplog.at_level(logging.DEBUG), Notifier() as n:
        r = n.send(ch, ALERT, "tls-2")
    assert (r.outcome, r.status) == ("permanent", 535)
    assert inbox.messages == []
    assert bad not in caplog.text
    assert bad not in repr(r)
    assert "tls-2" in caplog.text


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_untrusted_certificate_is_permanent(smtp_server: tuple[Inbox, int]) -> None:
    _, port = smtp_server
    with Notifier() as n:
        r = n.send(email_channel(port, security="starttls", username=USER, password=PASSWORD), ALERT, "t3")
    assert r.outcome == "permanent"
    assert "certificate" in r.detail


@pytest.mark.parametrize("smtp_server", ["ssl"], indirect=True)
def test_implicit_tls(smtp_server: tuple[Inbox, int], cert: tuple[Path, Path]) -> None:
    inbox, port = smtp_server
    with Notifier() as n:
        assert (
            n.send(email_channel(port, security="ssl", ca_file=str(cert[0])), ALERT, "ssl-1").outcome
            == "sent"
        )
    assert len(inbox.messages) == 1


@pytest.mark.parametrize(
    ("rcpt", "outcome", "code"), [("nobody@x.org", "permanent", 550), ("later@x.org", "retryable", 451)]
)
def test_refused_recipients(smtp_server: tuple[Inbox, int], rcpt: str, outcome: str, code: int) -> None:
    inbox, port = smtp_server
    ch = email_channel(port).model_copy(update={"to": [rcpt]})
    with Notifier() as n:
        r = n.send(ch, ALERT.model_copy(update={"mentions": []}), "rc-1")
    assert (r.outcome, r.status) == (outcome, code)
    assert inbox.messages == []


def test_partially_refused_is_sent(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    ch = email_channel(port).model_copy(update={"to": ["ops@example.com", "nobody@x.org"]})
    with Notifier() as n:
        r = n.send(ch, ALERT.model_copy(update={"mentions": []}), "rc-2")
    assert r.outcome == "sent"
    assert "1 recipient(s) refused" in r.detail
    assert inbox.messages[0][0] == ["ops@example.com"]


def test_server_down_is_retryable() -> None:
    with Notifier() as n:
        r = n.send(email_channel(free_port()), ALERT, "down-1")
    assert r.outcome == "retryable"
