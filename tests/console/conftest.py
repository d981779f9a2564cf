"""Fixtures: the console and the management API on a real database (SQLite and PostgreSQL),
served in-process like the process dispatcher serves them, with a movable clock and a real
SMTP server whose mails the tests read (the account tests' `smtp_server`)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from tests.accounts.conftest import FakeClock, Received, SmtpSink, smtp_server  # noqa: F401
from tests.billing.payments.shop import SECRET_KEY, WEBHOOK_SECRET, check_invariant, serve
from tests.console.browser import browser, demo  # noqa: F401  (session-scoped)
from tests.waiting import eventually
from torouter.accounts.limits import MemoryLimiter
from torouter.accounts.mailer import Postman, SmtpMailer
from torouter.accounts.passwords import hash_password
from torouter.accounts.service import Accounts
from torouter.api import ApiDeps, build_management_api
from torouter.app_payments import subscribe_paid_plan
from torouter.billing.ledger import Ledger
from torouter.billing.payments.service import Payments
from torouter.config import PaymentsSettings, Settings
from torouter.console.app import build_console
from torouter.console.paths import is_console_path
from torouter.crypto import decrypt, generate_key, keyring_for
from torouter.mock.stripe import FakeStripe
from torouter.routing.health import HealthBook
from torouter.snapshot import SnapshotHolder
from torouter.state.memory import MemoryState
from torouter.storage.db import Database
from torouter.storage.repos.groups import create_group, set_group_models
from torouter.storage.repos.ledger import add_ledger_entry
from torouter.storage.repos.models import create_model
from torouter.storage.repos.users import create_user
from torouter.storage.tables import orders, users
from torouter.upstreams.http import UpstreamHttp

PASSWORD = "hunter22"
BASE = "http://console.test"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


@dataclass
class Site:
    """The console and the JSON API behind one ASGI callable, as `torouter.app` routes."""

    app: Any
    deps: ApiDeps
    accounts: Accounts
    clock: FakeClock
    db: Database
    sink: SmtpSink
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def browser(self, **headers: str) -> httpx.AsyncClient:
        c = httpx.AsyncClient(
            transport=httpx.ASGITransport(self.app),
            base_url="http://testserver",
            headers=headers,
        )
        self.clients.append(c)
        return c

    async def form(
        self, c: httpx.AsyncClient, page: str, action: str, data: dict[str, str]
    ) -> httpx.Response:
        """Open `page`, then post `data` to `action` with the page's CSRF field."""
        r = await c.get(page)
        assert r.status_code == 200, (page, r.status_code)
        return await c.post(action, data={"csrf_token": csrf_of(r.text), **data})

    async def user(self, email: str, *, state: str = "active", language: str | None = None) -> int:
        async with self.db.begin() as conn:
            user_id = await create_user(
                conn,
                email=email,
                password_hash=hash_password(PASSWORD),
                state=state,
                verified_at=self.clock.now() if state == "active" else None,
            )
            if language is not None:
                await conn.execute(
                    update(users).where(users.c.id == user_id).values(language=language)
                )
        await self.deps.snapshot.reload()
        return user_id

    async def catalog(self) -> int:
        """A public group `default` with a chat model (thinking) and an embedding model."""
        async with self.db.begin() as conn:
            group_id = await create_group(conn, name="default", description="test models")
            for order, (model_id, vendor, modality, endpoints) in enumerate(
                (
                    ("m-chat", "anthropic", "text", ("chat", "messages")),
                    ("m-embed", "openai", "embedding", ("embeddings",)),
                )
            ):
                await create_model(
                    conn,
                    model_id=model_id,
                    vendor=vendor,
                    modality=modality,
                    endpoints=endpoints,
                    supports_thinking=model_id == "m-chat",
                    context_length=200_000,
                    max_output_tokens=8_192,
                    prices={"input": Decimal(3), "output": Decimal(15)},
                    sort_order=order,
                )
            await set_group_models(conn, group_id=group_id, model_ids=["m-chat", "m-embed"])
        await self.deps.snapshot.reload()
        return group_id

    async def signed_in(self, email: str, **kw: Any) -> httpx.AsyncClient:
        await self.user(email, **kw)
        c = self.browser()
        r = await self.form(c, "/login", "/login", {"email": email, "password": PASSWORD})
        assert r.status_code == 303, r.text
        return c

    async def admin(self, email: str = "root@example.com") -> httpx.AsyncClient:
        """A signed-in administrator's browser."""
        user_id = await self.user(email)
        async with self.db.begin() as conn:
            await conn.execute(update(users).where(users.c.id == user_id).values(role="admin"))
        c = self.browser()
        r = await self.form(c, "/login", "/login", {"email": email, "password": PASSWORD})
        assert r.status_code == 303, r.text
        return c

    async def mails(self, to: str) -> list[Received]:
        await self.accounts.postman.drain()
        return [m for m in self.sink.received if to in m.rcpt]


def dispatcher(console: Any, api: Any) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and is_console_path(scope["path"]):
            await console(scope, receive, send)
        else:
            await api(scope, receive, send)

    return app


@pytest.fixture
async def site(db: Database, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Site]:
    sink, port = request.getfixturevalue("smtp_server")  # the account tests' real SMTP server
    sink.received.clear()
    settings = Settings(
        data_dir=tmp_path,
        public_base_url=BASE,
        encryption_key=generate_key(),
        smtp={"host": "127.0.0.1", "port": port, "sender": "ToRouter <no-reply@console.test>"},
    )
    clock = FakeClock()
    keyring = keyring_for(settings)
    snapshot = SnapshotHolder(db, decrypt=lambda token: decrypt(token, keyring))
    await snapshot.reload()
    accounts = Accounts.build(
        settings,
        db,
        keyring,
        on_users_changed=snapshot.reload,
        limiter=MemoryLimiter(clock),
        clock=clock,
    )
    accounts.postman = Postman(SmtpMailer(settings.smtp, timeout=10), concurrency=1)
    http = UpstreamHttp()
    await http.start()
    deps = ApiDeps(
        settings=settings,
        db=db,
        snapshot=snapshot,
        ledger=Ledger(MemoryState()),
        accounts=accounts,
        health=HealthBook(),
        http=http,
    )
    console = build_console(deps, base_url=BASE)
    api = build_management_api(deps)
    s = Site(dispatcher(console, api), deps, accounts, clock, db, sink)
    try:
        yield s
    finally:
        await accounts.postman.drain()
        for c in s.clients:
            await c.aclose()
        await http.close()


@dataclass
class PaySite:
    """`Site` with payments: the fake Stripe served on its own port (the official SDK talks
    HTTP to it), the site served too so that the fake's webhooks reach it, one clock."""

    site: Site
    payments: Payments
    fake: FakeStripe
    url: str

    async def order(self, order_id: str) -> dict[str, Any]:
        async with self.site.db.connect() as conn:
            row = (await conn.execute(select(orders).where(orders.c.id == order_id))).mappings()
            return dict(row.one())

    async def orders_of(self, user_id: int) -> list[dict[str, Any]]:
        async with self.site.db.connect() as conn:
            rows = await conn.execute(
                select(orders).where(orders.c.user_id == user_id).order_by(orders.c.created_at)
            )
            return [dict(r) for r in rows.mappings()]

    async def user_id(self, email: str) -> int:
        async with self.site.db.connect() as conn:
            return int(await conn.scalar(select(users.c.id).where(users.c.email == email)))

    async def credit(self, user_id: int, usd: int) -> None:
        """An admin credit (or, negative, a debit), as the gateway's counters see it too."""
        async with self.site.db.begin() as conn:
            await add_ledger_entry(
                conn,
                user_id=user_id,
                amount_nusd=usd * 10**9,
                reason="admin_credit" if usd > 0 else "admin_debit",
                reference=f"test:{user_id}:{usd}:{self.site.clock.now().timestamp()}",
            )
        await self.site.deps.ledger.credit(user_id, usd * 10**9)

    async def balance(self, user_id: int) -> int:
        async with self.site.db.connect() as conn:
            return int(await conn.scalar(select(users.c.balance_nusd).where(users.c.id == user_id)))

    async def wait_status(self, order_id: str, status: str) -> None:
        async def reached() -> bool:
            return (await self.order(order_id))["status"] == status

        await eventually(reached, within=30, what=f"order {order_id} {status}")
        await self.fake.webhooks.idle()


@pytest.fixture
async def pay_site(site: Site) -> AsyncIterator[PaySite]:
    site.clock.t = dt.datetime.now(dt.UTC)  # Stripe's clock is the real one
    fake = FakeStripe("http://placeholder", api_key=SECRET_KEY, webhook_secret=WEBHOOK_SECRET)
    fake_server = await serve(fake)
    fake.account.public_url = fake_server.url
    fake.start()
    settings = site.deps.settings
    payments = Payments(
        db=site.db,
        ledger=site.deps.ledger,
        snapshot=site.deps.snapshot,
        file_settings=PaymentsSettings(
            stripe_secret_key=SECRET_KEY,
            stripe_webhook_secret=WEBHOOK_SECRET,
            stripe_api_base=fake_server.url,
            topup_presets_usd=[Decimal(10), Decimal(20), Decimal(50)],
            topup_min_usd=Decimal(5),
            topup_max_usd=Decimal(500),
        ),
        keyring=keyring_for(settings),
        base_url=BASE,
        subscribe=subscribe_paid_plan,
        clock=site.clock.now,
    )
    site.deps.payments = payments
    served = await serve(site.app)
    fake.webhooks.url = f"{served.url}/api/payments/stripe/webhook"
    try:
        yield PaySite(site, payments, fake, fake_server.url)
        await fake.webhooks.idle()
        await check_invariant(site.db, None)
    finally:
        await fake.close()
        await served.stop()
        await fake_server.stop()
        await payments.aclose()
