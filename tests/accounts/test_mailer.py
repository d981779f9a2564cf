"""Mail off the request path (R17.7): SMTP to a real local server, or the outbox folder."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import stat
from pathlib import Path

import pytest

from tests.accounts.conftest import SmtpSink, Stack
from tests.accounts.flows import signup
from torouter.accounts.emails import link, verify_mail
from torouter.accounts.mailer import Mail, NoMailer, OutboxMailer, Postman, SmtpMailer
from torouter.accounts.service import Accounts, base_url_of, default_mailer
from torouter.config import Settings


async def test_outbox_writes_one_private_eml_per_mail_and_logs_the_link(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = OutboxMailer(tmp_path / "outbox", "ToRouter <no-reply@torouter.local>")
    url = link("http://127.0.0.1:8080", "/verify", "tok/en+1")
    assert url == "http://127.0.0.1:8080/verify?token=tok%2Fen%2B1"
    with caplog.at_level(logging.INFO, logger="torouter.accounts.mail"):
        await outbox.send(verify_mail("a@example.com", url, "en"))
        await outbox.send(Mail("b@example.com", "Code", "123456"))
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    msg = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert msg["To"] == "a@example.com" and msg["Message-ID"]
    assert url in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == f"mail written to the outbox; link: {url}"
    assert lines[1] == "mail written to the outbox"  # codes are not logged


@pytest.mark.parametrize(
    "scale_out",
    [{"database": {"url": "postgresql+asyncpg://db/x"}}, {"redis": {"url": "redis://r:6379/0"}}],
    ids=["postgresql", "redis"],
)
async def test_without_smtp_outside_the_embedded_default_mail_goes_nowhere_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, scale_out: dict[str, object]
) -> None:
    """R18.3: reset and verification links are never written to an outbox (or a log) on a
    shared deployment; each mail is an error in the log, and start-up warns once."""
    settings = Settings(data_dir=tmp_path, **scale_out)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO):
        postman = Postman(default_mailer(settings))
        postman.post(verify_mail("a@example.com", "http://x/verify?token=SECRET", "en"))
        await postman.drain()
    assert isinstance(postman.mailer, NoMailer)
    assert (postman.sent, postman.failed) == (0, 1)
    assert list(tmp_path.iterdir()) == []  # no outbox, no file of any kind
    assert "SECRET" not in caplog.text
    warning, error = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.getMessage().startswith("smtp.host is not set: verification and password-")
    assert error.getMessage() == "mail not sent: smtp.host is not set" and not error.exc_info


def test_default_mailer_and_base_url() -> None:
    assert isinstance(default_mailer(Settings()), OutboxMailer)
    assert isinstance(default_mailer(Settings(smtp={"host": "mail"})), SmtpMailer)
    assert base_url_of(Settings()) == "http://127.0.0.1:8080"
    assert base_url_of(Settings(server={"host": "0.0.0.0", "port": 9})) == "http://127.0.0.1:9"
    assert base_url_of(Settings(server={"host": "::1"})) == "http://[::1]:8080"
    assert (
        base_url_of(Settings(public_base_url="https://r.example.com/")) == "https://r.example.com"
    )


class GatedMailer:
    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.sent: list[Mail] = []

    async def send(self, mail: Mail) -> None:
        await self.gate.wait()
        if mail.to == "fail@example.com":
            raise ConnectionError("mail server said no")
        self.sent.append(mail)


async def test_postman_returns_at_once_and_logs_failures(caplog: pytest.LogCaptureFixture) -> None:
    mailer = GatedMailer()
    postman = Postman(mailer)
    postman.post(Mail("a@example.com", "s", "t"))
    postman.post(Mail("fail@example.com", "s", "t"))
    assert postman.pending == 2 and mailer.sent == []
    mailer.gate.set()
    await postman.drain()
    assert [m.to for m in mailer.sent] == ["a@example.com"]
    assert (postman.sent, postman.failed, postman.pending) == (1, 1, 0)
    assert any(r.getMessage() == "sending mail failed" and r.exc_info for r in caplog.records)


async def test_a_slow_smtp_server_does_not_hold_the_response(stack: Stack) -> None:
    sink: SmtpSink = stack.sink
    sink.gate.clear()  # the server accepts the connection but sits on the message
    try:
        r = await signup(stack, "patient@example.com")
        assert r.status_code == 201
        assert stack.accounts.postman.pending == 1 and sink.received == []
    finally:
        sink.gate.set()
    mail = await stack.last_mail("patient@example.com")
    assert mail.message["From"] == "ToRouter <no-reply@console.test>"


async def test_an_unreachable_smtp_server_still_answers(stack: Stack, tmp_path: Path) -> None:
    settings = Settings(smtp={"host": "127.0.0.1", "port": 9}, data_dir=tmp_path)
    dead = Accounts.build(
        settings, stack.db, stack.accounts.keyring, mailer=SmtpMailer(settings.smtp, timeout=5)
    )
    stack.app.state.deps.accounts = dead
    r = await signup(stack, "nomail@example.com")
    assert r.status_code == 201
    await dead.postman.drain()
    assert dead.postman.failed == 1
