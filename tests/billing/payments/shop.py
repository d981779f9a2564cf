"""The payments test bench: the management API served by uvicorn, the fake Stripe served by
uvicorn (so the official SDK talks HTTP to it and its webhooks come back over HTTP), on a real
database (SQLite and PostgreSQL), with the gateway's ledger counters beside.

`shop` is the fixture. Its teardown checks the payments invariant (issue 15 item 7) after
every test that uses it: every balance is the sum of its ledger entries and the gateway's
balance counter agrees with it; no order has two `topup` entries.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import func, insert, select

from tests.waiting import eventually
from torouter.accounts.service import Accounts
from torouter.accounts.sessions import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, create_session
from torouter.api import ApiDeps, build_management_api
from torouter.api.admin_tokens import create_admin_token
from torouter.app_payments import subscribe_paid_plan
from torouter.billing.ledger import Ledger, balance_counter
from torouter.billing.payments.service import Payments
from torouter.config import Settings
from torouter.crypto import generate_key, keyring_for
from torouter.mock.stripe import FakeStripe
from torouter.snapshot import SnapshotHolder
from torouter.state.memory import MemoryState
from torouter.storage.db import Database
from torouter.storage.tables import ledger, orders, users

__all__ = ["SECRET_KEY", "USD", "WEBHOOK_SECRET", "Shop", "check_invariant", "serve", "shop"]

USD = 1_000_000_000
SECRET_KEY = "sk_test_shop0000000000000000"
WEBHOOK_SECRET = "whsec_shop0000000000000000"


class MovableClock:
    """Real time plus an offset the test moves."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += dt.timedelta(**delta)


class Served:
    """An ASGI app on a free loopback port, served by uvicorn inside the test's loop."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> Served:
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        await eventually(lambda: self.server.started, within=10, what="server started")
        return self

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task


async def serve(app: Any) -> Served:
    return await Served(app).start()


@dataclass
class Shop:
    db: Database
    state: MemoryState
    ledger: Ledger
    snapshot: SnapshotHolder
    payments: Payments
    clock: MovableClock
    fake: FakeStripe
    api: Served
    fake_server: Served
    accounts: Accounts
    admin: httpx.AsyncClient
    admin_id: int
    deps: ApiDeps
    raw: httpx.AsyncClient  # no credentials: what Stripe (or an attacker) sends with
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def webhook_url(self) -> str:
        return f"{self.api.url}/api/payments/stripe/webhook"

    async def user(self, email: str = "buyer@example.com", balance_usd: int = 0) -> int:
        async with self.db.begin() as conn:
            result = await conn.execute(
                insert(users).values(
                    email=email,
                    role="user",
                    state="active",
                    balance_nusd=0,
                    password_hash="$argon2id$not-a-real-hash",
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
            uid = int(result.inserted_primary_key[0])
        if balance_usd:
            from torouter.storage.repos.ledger import add_ledger_entry

            async with self.db.begin() as conn:
                await add_ledger_entry(
                    conn,
                    user_id=uid,
                    amount_nusd=balance_usd * USD,
                    reason="admin_credit",
                    reference=f"seed:{uid}",
                )
        await self.state.seed(balance_counter(uid), -balance_usd * USD)  # as the gateway does
        return uid

    async def browser(self, user_id: int) -> httpx.AsyncClient:
        """A signed-in browser: the session cookie, and the CSRF header echoed."""
        async with self.db.begin() as conn:
            session = await create_session(
                self.accounts, conn, user_id=user_id, ip="127.0.0.1", user_agent="tests"
            )
        client = httpx.AsyncClient(
            base_url=self.api.url,
            cookies={SESSION_COOKIE: session.token, CSRF_COOKIE: session.csrf},
            headers={CSRF_HEADER: session.csrf},
            timeout=30,
            verify=False,  # plain HTTP on loopback: skip loading the CA bundle
        )
        self.clients.append(client)
        return client

    async def topup(self, client: httpx.AsyncClient, amount: str = "20.00") -> dict[str, Any]:
        r = await client.post("/api/me/orders", json={"kind": "topup", "amount_usd": amount})
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def order_row(self, order_id: str) -> dict[str, Any]:
        async with self.db.connect() as conn:
            row = (await conn.execute(select(orders).where(orders.c.id == order_id))).mappings()
            return dict(row.one())

    async def status(self, order_id: str) -> str:
        return str((await self.order_row(order_id))["status"])

    async def wait_status(self, order_id: str, status: str, within: float = 60) -> None:
        async def reached() -> bool:
            return await self.status(order_id) == status

        try:
            await eventually(reached, within=within, what=f"order {order_id} {status}")
        except AssertionError as exc:  # say what the webhooks did
            sent = [(d.type, d.attempt, d.status, d.error) for d in self.fake.webhooks.deliveries]
            raise AssertionError(f"{exc}; status {await self.status(order_id)}; {sent}") from None

    async def session_id(self, order_id: str) -> str:
        return str((await self.order_row(order_id))["stripe_session_id"])

    async def pay(self, order_id: str) -> None:
        """Pay at the fake and wait until the webhook credited it (and was answered)."""
        self.fake.account.pay(await self.session_id(order_id))
        await self.wait_status(order_id, "paid")
        await self.fake.webhooks.idle()

    async def balance(self, uid: int) -> int:
        async with self.db.connect() as conn:
            return int(await conn.scalar(select(users.c.balance_nusd).where(users.c.id == uid)))

    async def entries(self, uid: int) -> list[tuple[str, int, str | None]]:
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(ledger.c.reason, ledger.c.amount_nusd, ledger.c.reference)
                .where(ledger.c.user_id == uid)
                .order_by(ledger.c.id)
            )
            return [(r.reason, r.amount_nusd, r.reference) for r in rows]

    async def counter(self, uid: int) -> int:
        """The balance as the gateway's admission sees it."""
        used, in_flight = await self.state.used(balance_counter(uid))
        assert in_flight == 0
        return -used


async def check_invariant(db: Database, state: MemoryState | None) -> None:
    """balance = Σ ledger for every user (and the gateway's counter agrees); no order has two
    `topup` entries."""
    async with db.connect() as conn:
        balances = {r.id: r.balance_nusd for r in await conn.execute(select(users))}
        sums = dict(
            (
                await conn.execute(
                    select(ledger.c.user_id, func.sum(ledger.c.amount_nusd)).group_by(
                        ledger.c.user_id
                    )
                )
            ).all()
        )
        twice = (
            await conn.execute(
                select(ledger.c.reference)
                .where(ledger.c.reason == "topup")
                .group_by(ledger.c.reference)
                .having(func.count() > 1)
            )
        ).all()
    for uid, balance in balances.items():
        assert balance == int(sums.get(uid, 0)), f"user {uid}: balance {balance} ≠ ledger sum"
        if state is not None:
            used, in_flight = await state.used(balance_counter(uid))
            assert (-used, in_flight) == (balance, 0), f"user {uid}: gateway counter {-used}"
    assert not twice, f"orders credited twice: {twice}"


@pytest.fixture
async def shop(db: Database, tmp_path: Path) -> AsyncIterator[Shop]:
    state = MemoryState()
    ledger_ = Ledger(state, db=db)
    clock = MovableClock()
    fake = FakeStripe("http://placeholder", api_key=SECRET_KEY, webhook_secret=WEBHOOK_SECRET)
    fake_server = await serve(fake)
    fake.account.public_url = fake_server.url
    fake.start()
    settings = Settings(
        data_dir=tmp_path,
        encryption_key=generate_key(),
        payments={
            "stripe_secret_key": SECRET_KEY,
            "stripe_webhook_secret": WEBHOOK_SECRET,
            "stripe_api_base": fake_server.url,
        },
    )
    keyring = keyring_for(settings)
    snapshot = SnapshotHolder(db, decrypt=lambda s: s, on_load=ledger_.on_snapshot)
    accounts = Accounts.build(settings, db, keyring, on_users_changed=snapshot.reload)
    payments = Payments(
        db=db,
        ledger=ledger_,
        snapshot=snapshot,
        file_settings=settings.payments,
        keyring=keyring,
        base_url="http://console.test",
        subscribe=subscribe_paid_plan,
        clock=clock.now,
    )
    deps = ApiDeps(
        settings=settings,
        db=db,
        snapshot=snapshot,
        ledger=ledger_,
        accounts=accounts,
        payments=payments,
    )
    api = await serve(build_management_api(deps))
    fake.webhooks.url = f"{api.url}/api/payments/stripe/webhook"
    admin_id = await _admin(db)
    token = await create_admin_token(db, name="t", user_id=admin_id)
    admin = httpx.AsyncClient(
        base_url=api.url, headers={"authorization": f"Bearer {token}"}, timeout=30, verify=False
    )
    raw = httpx.AsyncClient(base_url=api.url, timeout=30, verify=False)
    s = Shop(
        db,
        state,
        ledger_,
        snapshot,
        payments,
        clock,
        fake,
        api,
        fake_server,
        accounts,
        admin,
        admin_id,
        deps,
        raw,
        [admin, raw],
    )
    try:
        yield s
        await fake.webhooks.idle()
        await check_invariant(db, state)
    finally:
        for c in s.clients:
            await c.aclose()
        await fake.close()
        await api.stop()
        await fake_server.stop()
        await payments.aclose()
        await accounts.postman.drain()


async def _admin(db: Database) -> int:
    async with db.begin() as conn:
        result = await conn.execute(
            insert(users).values(
                email="admin@example.com",
                role="admin",
                state="active",
                balance_nusd=0,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
        return int(result.inserted_primary_key[0])
