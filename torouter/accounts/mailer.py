"""Account mail (R17.7): SMTP, or in the embedded default a file outbox echoed to the log.

    Mailer (Protocol)  async send(Mail)
     ├── SmtpMailer    aiosmtplib, when `smtp.host` is set
     ├── OutboxMailer  the embedded default only: one .eml per mail in `<data dir>/outbox/`,
     │                 link logged (R17.7, R18.3: the one way to verify an offline install)
     └── NoMailer      elsewhere without SMTP: nothing is written anywhere, each mail is an
                       error in the log (links and codes are never stored or logged)
    Postman            sends off the request path: `post()` returns at once

A request never waits for a mail server: `Postman.post` starts a task and returns; failures
are logged, never answered (a mail that cannot be sent must not reveal whether an address
exists). `drain()` awaits what is in flight (tests, shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

from ulid import ULID

from torouter.config import SmtpSettings
from torouter.private_files import private_folder

__all__ = [
    "Mail",
    "MailUnavailable",
    "Mailer",
    "NoMailer",
    "OutboxMailer",
    "Postman",
    "SmtpMailer",
    "to_message",
]

log = logging.getLogger("torouter.accounts.mail")


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    text: str
    link: str | None = None  # the one action link in `text`, if any (logged by the outbox)


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


class MailUnavailable(Exception):
    """No way to send mail is configured."""


class NoMailer:
    """Scale-out without `smtp.host`: reset and verification links must not land in files or
    logs on a shared deployment (R18.3), so every mail fails, loudly, and goes nowhere."""

    async def send(self, mail: Mail) -> None:
        raise MailUnavailable("smtp.host is not set")


def to_message(mail: Mail, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(localtime=False)
    domain = sender.rpartition("@")[2].strip("> ") or "torouter.local"
    msg["Message-ID"] = make_msgid(domain=domain)
    msg.set_content(mail.text)
    return msg


class SmtpMailer:
    def __init__(self, smtp: SmtpSettings, *, timeout: float = 30.0) -> None:
        if not smtp.host:
            raise ValueError("smtp.host is not set")
        self._smtp = smtp
        self._timeout = timeout

    async def send(self, mail: Mail) -> None:
        import aiosmtplib  # here: a gateway without mail to send keeps it out (~0.5 MB, R20.1)

        s = self._smtp
        await aiosmtplib.send(
            to_message(mail, s.sender),
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password,
            start_tls=s.starttls,
            timeout=self._timeout,
        )


class OutboxMailer:
    """Writes each mail to `<dir>/<ULID>.eml` (0600: links are secrets) and logs the link.

    R17.7 and R18.3 allow both for the embedded default only, which runs offline without a
    mail server: it is the one way to verify an account there.
    """

    def __init__(self, directory: Path, sender: str) -> None:
        self._dir = Path(directory)
        self._sender = sender

    async def send(self, mail: Mail) -> None:
        data = bytes(to_message(mail, self._sender))
        path = self._dir / f"{ULID()}.eml"
        await asyncio.to_thread(_write_private, path, data)
        extra = {"to": mail.to, "subject": mail.subject, "file": str(path)}
        if mail.link:
            log.info("mail written to the outbox; link: %s", mail.link, extra=extra)
        else:
            log.info("mail written to the outbox", extra=extra)


def _write_private(path: Path, data: bytes) -> None:
    private_folder(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


class Postman:
    """Sends mail in background tasks, at most `concurrency` at a time."""

    def __init__(self, mailer: Mailer, *, concurrency: int = 4, max_pending: int = 1000) -> None:
        self.mailer = mailer
        self._slots = asyncio.Semaphore(concurrency)
        self._max_pending = max_pending
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.failed = 0

    def post(self, mail: Mail) -> None:
        if len(self._tasks) >= self._max_pending:
            self.failed += 1
            log.error("mail queue full; mail dropped", extra={"subject": mail.subject})
            return
        task = asyncio.get_running_loop().create_task(self._deliver(mail))
        self._tasks.add(task)  # a strong reference until done (the loop keeps only weak ones)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, mail: Mail) -> None:
        async with self._slots:
            try:
                await self.mailer.send(mail)
            except MailUnavailable as exc:
                self.failed += 1
                log.error("mail not sent: %s", exc, extra={"subject": mail.subject})
            except Exception:
                self.failed += 1
                log.exception("sending mail failed", extra={"subject": mail.subject})
            else:
                self.sent += 1

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every posted mail is sent or has failed."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
