"""Fixtures: the management API with accounts on a real database (SQLite and PostgreSQL),
a movable clock, and a real SMTP server (aiosmtpd) whose mails the tests read and follow."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import re
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI

from torouter.accounts.limits import MemoryLimiter
from torouter.accounts.mailer import Postman, SmtpMailer
from torouter.accounts.service import Accounts
from torouter.api import ApiDeps, build_management_api
from torouter.billing.ledger import Ledger
from torouter.config import Settings
from torouter.crypto import generate_key, keyring_for
from torouter.snapshot import SnapshotHolder
from torouter.state.memory import MemoryState
from torouter.storage.db import Database

PASSWORD = "hunter22"
BASE = "http://console.test"
T0 = dt.datetime(2025, 6, 1, 12, 0, 0, tzinfo=dt.UTC)


class FakeClock:
    def __init__(self, start: dt.datetime = T0) -> None:
        self.t = start

    def now(self) -> dt.datetime:
        return self.t

    def advance(self, **delta: float) -> None:
        self.t += dt.timedelta(**delta)


@dataclass
class Received:
    rcpt: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        assert body is not None
        return str(body.get_content())

    @property
    def link(self) -> str:
        match = re.search(r"https?://\S+", self.text)
        assert match, self.text
        return match.group(0)

    @property
    def token(self) -> str:
        return parse_qs(urlsplit(self.link).query)["token"][0]

    @property
    def code(self) -> str:
        match = re.search(r"\b(\d{6})\b", self.text)
        assert match, self.text
        return match.group(1)


class SmtpSink:
    """An aiosmtpd handler keeping every mail; `gate` (set by default) holds DATA replies
    back while cleared, to play a slow mail server."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.gate = threading.Event()
        self.gate.set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.to_thread(self.gate.wait, 30)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.received.append(Received(list(envelope.rcpt_tos), msg))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[SmtpSink, int]]:
    sink = SmtpSink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        sink.gate.set()
        controller.stop()


@dataclass
class Stack:
    app: FastAPI
    client: httpx.AsyncClient
    accounts: Accounts
    clock: FakeClock
    db: Database
    snapshot: SnapshotHolder
    sink: SmtpSink
    settings: Settings
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def browser(self, ip: str | None = None) -> httpx.AsyncClient:
        """Another browser (its own cookie jar); `ip` is sent as X-Forwarded-For from a
        trusted proxy."""
        headers = {"x-forwarded-for": ip} if ip else {}
        c = httpx.AsyncClient(
            transport=httpx.ASGITransport(self.app), base_url="http://testserver", headers=headers
        )
        self.clients.append(c)
        return c

    async def mails(self, to: str | None = None) -> list[Received]:
        """Every mail delivered so far (after the ones in flight), optionally to one address."""
        await self.accounts.postman.drain()
        return [r for r in self.sink.received if to is None or to in r.rcpt]

    async def last_mail(self, to: str) -> Received:
        mails = await self.mails(to)
        assert mails, f"no mail to {to}"
        return mails[-1]


@pytest.fixture
async def stack(
    db: Database, smtp_server: tuple[SmtpSink, int], tmp_path: Path
) -> AsyncIterator[Stack]:
    sink, port = smtp_server
    sink.received.clear()
    sink.gate.set()
    settings = Settings(
        data_dir=tmp_path,
        public_base_url=BASE,
        encryption_key=generate_key(),
        trusted_proxies=["127.0.0.1"],
        smtp={"host": "127.0.0.1", "port": port, "sender": "ToRouter <no-reply@console.test>"},
    )
    clock = FakeClock()
    snapshot = SnapshotHolder(db, decrypt=lambda s: s)
    await snapshot.reload()
    accounts = Accounts.build(
        settings,
        db,
        keyring_for(settings),
        on_users_changed=snapshot.reload,
        limiter=MemoryLimiter(clock),
        clock=clock,
    )
    # One mail at a time, so that mails arrive in the order they were posted and a test can
    # say "the last mail" (several at once may overtake each other, as real ones do).
    accounts.postman = Postman(SmtpMailer(settings.smtp, timeout=10), concurrency=1)
    deps = ApiDeps(
        settings=settings,
        db=db,
        snapshot=snapshot,
        ledger=Ledger(MemoryState()),
        accounts=accounts,
    )
    app = build_management_api(deps)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver")
    s = Stack(app, client, accounts, clock, db, snapshot, sink, settings, [client])
    try:
        yield s
    finally:
        await accounts.postman.drain()
        for c in s.clients:
            await c.aclose()
