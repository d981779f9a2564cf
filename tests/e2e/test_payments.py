"""Payments with real gateway processes (issue 15 items 3, 4, 6, 8):

- two nodes sharing PostgreSQL and Redis get the same signed Stripe event 50 times at once and
  credit it once; the new balance is admitted by the gateway on both nodes at once;
- the payment jobs of the two nodes never run at the same time;
- the embedded demo tops up offline through its built-in fake Stripe.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select

from tests.conftest import drop_pg_database, make_pg_database
from tests.e2e.harness import GatewayProcess, MockProcess, wait_until
from tests.e2e.stripe_harness import FakeStripeProcess, signed_event
from tests.e2e.test_admission_setup import redis_db_url
from torouter.accounts.passwords import hash_password
from torouter.crypto import generate_key
from torouter.storage.db import Database
from torouter.storage.tables import ledger, orders, users

KEY = "sk-e2ePayKey00000000000000000000000000000000000000P"
STRIPE_KEY = "sk_test_e2e0000000000000000000"
WEBHOOK_SECRET = "whsec_e2e000000000000000000000"
PASSWORD = "hunter22"
USD = 1_000_000_000


def config(mock: str, stripe: str, pg: str, redis: str) -> str:
    return f"""
data_dir = "{{dir}}/data"
encryption_key = "{generate_key()}"
[server]
port = {{port}}
[database]
url = "{pg}"
[redis]
url = "{redis}"
[demo]
enabled = false
[jobs]
payments_interval_s = 0.2
[payments]
stripe_secret_key = "{STRIPE_KEY}"
stripe_webhook_secret = "{WEBHOOK_SECRET}"
stripe_api_base = "{stripe}"
[[groups]]
name = "default"
models = ["m-pay"]
[[models]]
id = "m-pay"
vendor = "openai"
endpoints = ["chat"]
prices = {{ input = 1, output = 1 }}
[[channels]]
name = "mock"
platform = "openai"
base_url = "{mock}/v1"
credential = "mock-key"
models = ["m-pay"]
groups = ["default"]
[[users]]
email = "buyer@example.com"
verified = true
password_hash = "{hash_password(PASSWORD)}"
[[keys]]
name = "k"
user = "buyer@example.com"
group = "default"
key = "{KEY}"
"""


@pytest.fixture
def nodes(
    tmp_path: Path,
) -> Iterator[tuple[GatewayProcess, GatewayProcess, FakeStripeProcess, str]]:
    if not os.environ.get("TOROUTER_TEST_PG_URL") or not os.environ.get("TOROUTER_TEST_REDIS_URL"):
        if os.environ.get("CI") == "true":
            raise RuntimeError("PostgreSQL and Redis are required under CI")
        pytest.skip("TOROUTER_TEST_PG_URL / TOROUTER_TEST_REDIS_URL not set")
    pg = asyncio.run(make_pg_database())
    mock = MockProcess(tmp_path)
    fake = FakeStripeProcess(api_key=STRIPE_KEY, webhook_secret=WEBHOOK_SECRET)
    cfg = config(mock.url, fake.url, pg, redis_db_url(3))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = GatewayProcess(tmp_path / "a", cfg)
    b = GatewayProcess(tmp_path / "b", cfg)
    fake.control("POST", "/config", {"webhook_url": f"{a.url}/api/payments/stripe/webhook"})
    a.cli("migrate", "up", "--config", str(a.config_path))
    a.start()
    b.start()
    try:
        yield a, b, fake, pg
    finally:
        a.stop()
        b.stop()
        fake.stop()
        mock.stop()
        asyncio.run(drop_pg_database(pg))


def chat(gw: GatewayProcess) -> httpx.Response:
    body = {"model": "m-pay", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    with gw.client() as c:
        return c.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"})


@contextlib.contextmanager
def signed_in(gw: GatewayProcess, email: str, password: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        r = c.post("/api/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        c.headers["x-csrf-token"] = c.cookies["torouter_csrf"]
        yield c


async def _ledger(pg: str) -> list[tuple[str, int, str | None]]:
    db = Database(pg)
    try:
        async with db.connect() as conn:
            rows = await conn.execute(
                select(ledger.c.reason, ledger.c.amount_nusd, ledger.c.reference)
            )
            return [(r.reason, r.amount_nusd, r.reference) for r in rows]
    finally:
        await db.dispose()


@pytest.mark.redis
@pytest.mark.postgres
def test_fifty_deliveries_to_two_nodes_credit_once(
    nodes: tuple[GatewayProcess, GatewayProcess, FakeStripeProcess, str],
) -> None:
    a, b, fake, pg = nodes
    r = chat(b)
    assert r.status_code == 402 and r.json()["error"]["code"] == "INSUFFICIENT_BALANCE"
    with signed_in(a, "buyer@example.com", PASSWORD) as me:
        r = me.post("/api/me/orders", json={"kind": "topup", "amount_usd": "20.00"})
        assert r.status_code == 201, r.text
        order = r.json()
    session_id = order["checkout_url"].rsplit("/", 1)[1]
    fake.control("POST", "/webhooks", {"mode": "drop"})  # only our 50 copies arrive
    fake.control("POST", f"/sessions/{session_id}/pay")
    (event,) = fake.api("GET", "/v1/events", type="checkout.session.completed")["data"]
    body, signature = signed_event(event, WEBHOOK_SECRET)

    async def deliver_50() -> list[httpx.Response]:
        headers = {"stripe-signature": signature, "content-type": "application/json"}
        async with httpx.AsyncClient(timeout=60) as c:
            return await asyncio.gather(
                *(
                    c.post(
                        f"{(a, b)[i % 2].url}/api/payments/stripe/webhook",
                        content=body,
                        headers=headers,
                    )
                    for i in range(50)
                )
            )

    answers = asyncio.run(deliver_50())
    assert {r.status_code for r in answers} == {200}, [
        r.text for r in answers if r.status_code != 200
    ]
    outcomes = [r.json()["outcome"] for r in answers]
    assert outcomes.count("credited") == 1 and set(outcomes) <= {"credited", "duplicate"}
    assert asyncio.run(_ledger(pg)) == [("topup", 20 * USD, order["id"])]
    # The credit reached the gateway's shared counters: both nodes admit the next request.
    assert chat(b).status_code == 200
    assert chat(a).status_code == 200


async def _due_order(pg: str, fake: FakeStripeProcess) -> str:
    """A pending order 20 minutes old, whose open session the sync job asks Stripe about."""
    order_id = "ord_01E2EDUE0000000000000000000"[:30]
    fake.api(
        "POST",
        "/v1/checkout/sessions",
        **{
            "mode": "payment",
            "client_reference_id": order_id,
            "line_items[0][price_data][currency]": "usd",
            "line_items[0][price_data][unit_amount]": "500",
            "line_items[0][price_data][product_data][name]": "x",
            "line_items[0][quantity]": "1",
        },
    )
    (session,) = fake.api("GET", "/v1/checkout/sessions")["data"]
    now = dt.datetime.now(dt.UTC)
    db = Database(pg)
    try:
        async with db.begin() as conn:
            uid = await conn.scalar(select(users.c.id).where(users.c.email == "buyer@example.com"))
            await conn.execute(
                insert(orders).values(
                    id=order_id,
                    user_id=uid,
                    kind="topup",
                    amount_nusd=5 * USD,
                    currency="usd",
                    method="stripe",
                    status="pending",
                    stripe_session_id=session["id"],
                    stripe_session_url=session["url"],
                    session_expires_at=now + dt.timedelta(minutes=20),
                    created_at=now - dt.timedelta(minutes=20),
                    refund_attempts=0,
                )
            )
            assert await conn.scalar(select(func.count()).select_from(orders)) == 1
    finally:
        await db.dispose()
    return order_id


@pytest.mark.redis
@pytest.mark.postgres
def test_the_two_nodes_never_run_a_payment_job_at_once(
    nodes: tuple[GatewayProcess, GatewayProcess, FakeStripeProcess, str],
) -> None:
    a, b, fake, pg = nodes
    asyncio.run(_due_order(pg, fake))
    fake.control("POST", "/latency", {"ms": 300})  # each sync run holds its lock ≥ 300 ms

    def runs() -> list[tuple[float, float, str]]:
        return sorted(
            (float(r["started"]), float(r["finished"]), r["node"])
            for gw in (a, b)
            for r in list(gw.lines)
            if r.get("msg") == "job finished" and r.get("job") == "payments:sync"
        )

    def skipped() -> int:
        return sum(
            r.get("msg") == "job skipped" and r.get("job") == "payments:sync"
            for gw in (a, b)
            for r in list(gw.lines)
        )

    def nodes_that_ran() -> int:
        return len({node for _, _, node in runs()})

    wait_until(
        lambda: len(runs()) >= 8 and skipped() >= 2 and nodes_that_ran() == 2,
        timeout=90,
        what="sync runs on both nodes, each node's turn at least once",
    )
    done = runs()
    for (_, end, _), (start, _, _) in itertools.pairwise(done):
        assert start >= end, f"two sync runs overlapped: {done}"


def test_the_demo_tops_up_offline(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path, 'data_dir = "{dir}/data"\n[server]\nport = {port}\n')
    gw.start()
    try:
        demo = (tmp_path / "data" / "demo.txt").read_text()
        assert "top up:" in demo and "fake" in demo
        password = re.search(r"user:\s+demo@torouter.local\s+password: (\S+)", demo)
        key = re.search(r"API key:\s+(sk-\S+)", demo)
        assert password and key
        with signed_in(gw, "demo@torouter.local", password.group(1)) as me:
            r = me.post("/api/me/orders", json={"kind": "topup", "amount_usd": "20"})
            assert r.status_code == 201, r.text
            order = r.json()
            url = order["checkout_url"]
            assert url.startswith(f"{gw.url}/mock/stripe/c/pay/cs_test_")
            page = me.get(url)
            assert page.status_code == 200 and re.search(r"<button [^>]*>Pay</button>", page.text)
            paid = me.post(f"{url}/pay", follow_redirects=False)
            assert paid.status_code == 303
            assert paid.headers["location"] == f"{gw.url}/payment/result?order={order['id']}"

            def credited() -> Any:
                got = me.get(f"/api/me/orders/{order['id']}").json()
                return got if got["status"] == "paid" and got["receipt_url"] else None

            got = wait_until(credited, timeout=20, what="the demo top-up credited")
            assert got["receipt_url"].startswith(f"{gw.url}/mock/stripe/receipts/")
            balance = me.get("/api/me/balance").json()
            assert balance["balance_nusd"] == 30 * USD  # the demo's $10 and the $20 top-up
    finally:
        gw.stop()
