"""Fixtures of the admin pages: an administrator's browser, a plain user's, and a small world
to act on (a user, groups, a plan, a model, a channel on the mock providers, a token)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select, update

from tests.api.seed import usage_row
from tests.console.conftest import Site, csrf_of
from torouter.access.admission import check_key
from torouter.access.keys import generate_key, hash_key
from torouter.api.admin_tokens import insert_admin_token
from torouter.app_payments import subscribe_paid_plan
from torouter.billing.payments.service import Payments
from torouter.config import PaymentsSettings
from torouter.crypto import keyring_for
from torouter.errors import GatewayError
from torouter.mock.testing import MockServer
from torouter.storage.repos.channels import create_channel
from torouter.storage.repos.groups import create_group, set_group_models
from torouter.storage.repos.models import create_model
from torouter.storage.repos.plans import create_plan
from torouter.storage.tables import api_keys, audit_log, channels, orders, usage_logs, users
from torouter.usage import rollups


@pytest.fixture(scope="session")
def mock() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


@dataclass
class World:
    site: Site
    admin: httpx.AsyncClient
    admin_id: int
    user_id: int
    group_id: int  # public balance group `default` with m-chat and m-embed
    private_id: int
    sub_group_id: int
    plan_id: int
    channel_id: int
    token_id: int
    model_id: str = "m-chat"
    order_id: str = "ord_01WORLDTOPUP0000000000000"
    request_id: str = "req_world_1"

    async def post(self, page: str, action: str, data: dict[str, str]) -> httpx.Response:
        """As the admin: open `page`, post `data` to `action` with its CSRF field."""
        return await self.site.form(self.admin, page, action, data)

    async def key(self, user_id: int) -> str:
        """A new API key of the user in the group `default`."""
        key = generate_key()
        async with self.site.db.begin() as conn:
            await conn.execute(
                insert(api_keys).values(
                    user_id=user_id,
                    group_id=self.group_id,
                    name="k",
                    key_hash=hash_key(key),
                    mask="sk-…",
                    created_at=self.site.clock.now(),
                )
            )
        await self.site.deps.snapshot.reload()
        return key

    async def mock_directive(self, directive: str) -> None:
        """Make the mock providers answer the channel's requests with `directive` (its
        `x-mock` header, sent as one of the channel's extra headers)."""
        async with self.site.db.begin() as conn:
            await conn.execute(
                update(channels)
                .where(channels.c.id == self.channel_id)
                .values(options={"extra_headers": {"x-mock": directive}})
            )
        await self.site.deps.snapshot.reload()

    def admit(self, key: str) -> str | None:
        """The error code the gateway's key check gives now (from the snapshot), or None."""
        try:
            check_key(self.site.deps.snapshot.current, hash_key(key), now=0, client_ip=None)
        except GatewayError as exc:
            return exc.code
        return None

    async def audit(self) -> list[dict[str, Any]]:
        async with self.site.db.connect() as conn:
            rows = await conn.execute(select(audit_log).order_by(audit_log.c.id))
            return [dict(r) for r in rows.mappings()]

    async def audit_count(self) -> int:
        async with self.site.db.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(audit_log)) or 0)


async def add_usage(conn: Any, rows: list[dict[str, Any]]) -> None:
    """Usage rows and their roll-ups, as the writer leaves them (the admin filters narrow
    the log by the per-channel roll-up)."""
    await conn.execute(insert(usage_logs), rows)
    hour = min(r["created_at"] for r in rows) - dt.timedelta(hours=1)
    await rollups.apply(conn, rollups.aggregate(rows, dt.UTC, hourly_from=hour))


async def make_world(site: Site, mock: MockServer) -> World:
    admin = await site.admin("root@example.com")
    async with site.db.connect() as conn:
        admin_id = int(await conn.scalar(select(users.c.id).where(users.c.role == "admin")))
    user_id = await site.user("alice@example.com")
    group_id = await site.catalog()
    keyring = keyring_for(site.deps.settings)
    async with site.db.begin() as conn:
        private_id = await create_group(conn, name="vip", visibility="private")
        await set_group_models(conn, group_id=private_id, model_ids=["m-chat"])
        sub_group_id = await create_group(conn, name="pro", billing_type="subscription")
        await set_group_models(conn, group_id=sub_group_id, model_ids=["m-chat"])
        plan_id = await create_plan(
            conn, name="pro-monthly", group_id=sub_group_id, price_nusd=5 * 10**9
        )
        channel_id = await create_channel(
            conn,
            name="mock-openai",
            platform="openai",
            keyring=keyring,
            credential="sk-mock-credential",
            base_url=f"{mock.url}/v1",
            models=["m-chat", "m-embed"],
            group_ids=[group_id],
            test_model="m-chat",
        )
        token_id, _ = await insert_admin_token(conn, name="ci", user_id=admin_id)
        await create_model(
            conn, model_id="vendor/with-slash", vendor="openai", prices={"input": Decimal("0.5")}
        )
        # A paid top-up of alice's and one request of hers through the channel, so that the
        # order and usage pages have something to show (payments present, Stripe not set).
        now = site.clock.now()
        await conn.execute(
            insert(orders).values(
                id=World.order_id,
                user_id=user_id,
                kind="topup",
                amount_nusd=10 * 10**9,
                method="stripe",
                status="paid",
                stripe_session_id="cs_test_world",
                stripe_payment_intent="pi_test_world",
                created_at=now,
                paid_at=now,
            )
        )
        row = usage_row(
            1,
            request_id=World.request_id,
            created_at=now,
            user_id=user_id,
            key_id=None,
            group_id=group_id,
            channel_id=channel_id,
            model_requested="m-chat",
            unit_prices={"input": "3", "output": "15"},
            price_multiplier="1",
            attempt_chain=[
                {"channel_id": channel_id, "class": "timeout", "status": 0},
                {"channel_id": channel_id, "status": 200, "latency_ms": 900},
            ],
        )
        await add_usage(conn, [row])
    if site.deps.payments is None:
        site.deps.payments = Payments(
            db=site.db,
            ledger=site.deps.ledger,
            snapshot=site.deps.snapshot,
            file_settings=PaymentsSettings(),
            keyring=keyring,
            base_url="http://console.test",
            subscribe=subscribe_paid_plan,
            clock=site.clock.now,
        )
    await site.deps.snapshot.reload()
    return World(
        site,
        admin,
        admin_id,
        user_id,
        group_id,
        private_id,
        sub_group_id,
        plan_id,
        channel_id,
        token_id,
    )


@pytest.fixture
async def world(site: Site, mock: MockServer) -> World:
    return await make_world(site, mock)


__all__ = ["World", "add_usage", "csrf_of", "make_world"]
