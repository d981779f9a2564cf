"""Concurrency proof of the reservation ledger (SPEC R7.11, R7.12): 200 concurrent requests
against a key cap, a subscription day cap and a balance never charge past the limit, first in
one gateway process (in-process counters), then across two processes sharing Redis and
PostgreSQL; and a key disabled, a channel disabled or a user suspended through one node is
refused by the other once the invalidation arrives over Redis pub/sub (within a second), and
login failures count across nodes.

Estimates cover the actual cost here (`max_tokens` 50, the mock answers 5 tokens), so the
R7.11 overspend bound Σ max(0, actual − estimate) is 0: totals must stay within the caps.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import drop_pg_database, make_pg_database
from tests.e2e.harness import GatewayProcess, wait_until
from tests.e2e.test_admission_setup import redis_db_url
from torouter.crypto import generate_key

CAP_USD = 0.005
CAP_NUSD = 5_000_000
N = 200


def key_of(name: str) -> str:
    return "sk-" + f"conc{name}".ljust(48, "0")[:48]


KEYS = {n: key_of(n) for n in ("cap", "bal", "sub", "victim")}

CONFIG = f"""
data_dir = "{{dir}}/data"
encryption_key = "ENCRYPTION_KEY"
[server]
port = {{port}}
[demo]
enabled = false
[mock]
mount = true
[usage]
flush_interval_s = 0.05
[jobs]
enabled = false
EXTRA

[[groups]]
name = "default"
models = ["gpt-test", "gpt-chan"]

[[groups]]
name = "subs"
billing_type = "subscription"
models = ["gpt-test"]

[[models]]
id = "gpt-test"
vendor = "openai"
endpoints = ["chat"]
prices = {{ input = 2, output = 10 }}

[[models]]
id = "gpt-chan"  # served only by a channel an operator adds through the API
vendor = "openai"
endpoints = ["chat"]
prices = {{ input = 2, output = 10 }}

[[channels]]
name = "mock-openai"
platform = "openai"
base_url = "http://127.0.0.1:{{port}}/mock/openai/v1"
credential = "mock-key-1"
models = ["gpt-test"]
groups = ["default", "subs"]

[[plans]]
name = "daily"
group = "subs"
daily_cap_usd = {CAP_USD}

[[users]]
email = "admin@example.com"
role = "admin"
verified = true
balance_usd = 100

[[users]]
email = "broke@example.com"
verified = true
balance_usd = {CAP_USD}

[[users]]
email = "sub@example.com"
verified = true

[[subscriptions]]
user = "sub@example.com"
plan = "daily"

[[keys]]
name = "cap"
user = "admin@example.com"
group = "default"
quota_usd = {CAP_USD}
key = "{KEYS["cap"]}"

[[keys]]
name = "bal"
user = "broke@example.com"
group = "default"
key = "{KEYS["bal"]}"

[[keys]]
name = "sub"
user = "sub@example.com"
group = "subs"
key = "{KEYS["sub"]}"

[[keys]]
name = "victim"
user = "admin@example.com"
group = "default"
key = "{KEYS["victim"]}"
"""


def config(extra: str, encryption_key: str) -> str:
    return CONFIG.replace("EXTRA", extra).replace("ENCRYPTION_KEY", encryption_key)


async def burst(urls: list[str], key: str) -> list[int]:
    """N requests at once, spread over the given gateways."""
    body = {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": "hello [[mock:tokens=5]]"}],
        "max_tokens": 50,
    }
    limits = httpx.Limits(max_connections=N, max_keepalive_connections=N)
    async with httpx.AsyncClient(timeout=60, limits=limits) as c:
        rs = await asyncio.gather(
            *(
                c.post(
                    urls[i % len(urls)] + "/v1/chat/completions",
                    json=body,
                    headers={"Authorization": f"Bearer {key}"},
                )
                for i in range(N)
            )
        )
    return [r.status_code for r in rs]


def totals(db_url: str) -> dict[str, int]:
    """What was charged per key, and the balance left, read from the database."""

    async def read() -> dict[str, int]:
        engine = create_async_engine(db_url)
        try:
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        text(
                            "SELECT k.name, COALESCE(SUM(u.cost_nusd), 0) FROM api_keys k "
                            "LEFT JOIN usage_logs u ON u.key_id = k.id GROUP BY k.name"
                        )
                    )
                ).all()
                out = {name: int(total) for name, total in rows}
                q = text("SELECT balance_nusd FROM users WHERE email = 'broke@example.com'")
                out["broke_balance"] = int((await conn.execute(q)).scalar_one())
                return out
        finally:
            await engine.dispose()

    return asyncio.run(read())


def check(statuses: dict[str, list[int]], charged: dict[str, int]) -> None:
    for name, codes in statuses.items():
        assert set(codes) <= {200, 402, 429}, (name, sorted(set(codes)))
        assert codes.count(200) > 0 and codes.count(200) < N, (name, codes.count(200))
    assert 0 < charged["cap"] <= CAP_NUSD
    assert 0 < charged["sub"] <= CAP_NUSD
    assert 0 < charged["bal"] <= CAP_NUSD
    assert charged["broke_balance"] >= 0
    assert charged["broke_balance"] == CAP_NUSD - charged["bal"]


def run_bursts(urls: list[str]) -> dict[str, list[int]]:
    return {name: asyncio.run(burst(urls, KEYS[name])) for name in ("cap", "bal", "sub")}


def test_one_process_never_exceeds_the_caps(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path, config("", generate_key()))
    gw.start()
    try:
        statuses = run_bursts([gw.url])
    finally:
        gw.stop()  # SIGTERM: drains and flushes the usage queue (R17.4)
    charged = totals(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'torouter.db'}")
    print("one process:", {k: (v.count(200), charged[k]) for k, v in statuses.items()})
    check(statuses, charged)


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not os.environ.get("TOROUTER_TEST_PG_URL"):
        pytest.skip("TOROUTER_TEST_PG_URL is not set")
    url = asyncio.run(make_pg_database())
    yield url
    asyncio.run(drop_pg_database(url))


@pytest.fixture
def two_nodes(tmp_path: Path, pg_url: str) -> Iterator[tuple[GatewayProcess, GatewayProcess, str]]:
    redis_url = redis_db_url(1)
    extra = f'[database]\nurl = "{pg_url}"\n[redis]\nurl = "{redis_url}"'
    secret = generate_key()
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    a = GatewayProcess(tmp_path / "a", config(extra, secret))
    b = GatewayProcess(tmp_path / "b", config(extra, secret))
    a.cli("migrate", "up", "--config", str(a.config_path))
    a.start()
    b.start()
    try:
        yield a, b, pg_url
    finally:
        b.stop()
        a.stop()


@pytest.mark.redis
@pytest.mark.postgres
def test_two_processes_share_the_caps(
    two_nodes: tuple[GatewayProcess, GatewayProcess, str],
) -> None:
    a, b, pg_url = two_nodes
    statuses = run_bursts([a.url, b.url])
    for gw in (a, b):  # both nodes served some of each burst
        assert gw.wait_log(lambda r: r.get("msg") == "request" and r.get("status") == 200)
    b.stop()
    a.stop()
    charged = totals(pg_url)
    print("two processes:", {k: (v.count(200), charged[k]) for k, v in statuses.items()})
    check(statuses, charged)


@pytest.mark.redis
@pytest.mark.postgres
def test_a_key_disabled_on_one_node_is_refused_by_the_other(
    two_nodes: tuple[GatewayProcess, GatewayProcess, str],
) -> None:
    a, b, _ = two_nodes
    token = a.cli(
        "create-admin-token", "--config", str(a.config_path), "--email", "admin@example.com"
    ).stdout.strip()
    admin = {"Authorization": f"Bearer {token}"}
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}

    def invalidations() -> int:
        return sum(1 for r in list(b.lines) if r.get("msg") == "snapshot invalidated")

    with a.client() as c:
        users = c.get("/api/admin/users", headers=admin).json()["data"]
        uid = next(u["id"] for u in users if u["email"] == "admin@example.com")
        seen = invalidations()
        r = c.post(
            "/api/admin/keys",
            json={"name": "victim2", "group": "default", "user_id": uid},
            headers=admin,
        )
        assert r.status_code in (200, 201), r.text
        created = r.json()
        auth = {"Authorization": f"Bearer {created['key']}"}
    # A key created on node A is served by node B once the invalidation arrives.
    wait_until(lambda: invalidations() > seen, what="the creation's invalidation on node B")
    with b.client() as c:
        assert c.post("/v1/chat/completions", json=body, headers=auth).status_code == 200
    seen = invalidations()
    with a.client() as c:
        r = c.patch(f"/api/admin/keys/{created['id']}", json={"status": "disabled"}, headers=admin)
        assert r.status_code == 200, r.text
        # The node that made the edit refuses from its very next request.
        r = c.post("/v1/chat/completions", json=body, headers=auth)
        assert r.status_code == 401
    wait_until(lambda: invalidations() > seen, what="the edit's invalidation on node B")
    with b.client() as c:
        r = c.post("/v1/chat/completions", json=body, headers=auth)
    assert r.status_code == 401 and r.json()["error"]["code"] == "API_KEY_DISABLED"


def _chat(gw: GatewayProcess, model: str, key: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    with gw.client() as c:
        return c.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})


@pytest.mark.redis
@pytest.mark.postgres
def test_a_channel_disable_and_a_suspension_reach_the_other_node_within_a_second(
    two_nodes: tuple[GatewayProcess, GatewayProcess, str],
) -> None:
    """Issue 13 point 5 (R7.12): channel edits and user suspensions publish the invalidation
    like key edits do (they only reloaded their own node: the other waited for the 60 s
    periodic reload)."""
    a, b, _ = two_nodes
    token = a.cli(
        "create-admin-token", "--config", str(a.config_path), "--email", "admin@example.com"
    ).stdout.strip()
    admin = {"Authorization": f"Bearer {token}"}
    password = "a long enough password"
    with a.client() as c:
        channel = {
            "name": "operator-added",
            "platform": "openai",
            "base_url": f"{a.url}/mock/openai/v1",
            "credential": "mock-key-2",
            "models": ["gpt-chan"],
            "groups": ["default"],
        }
        r = c.post("/api/admin/channels", json=channel, headers=admin)
        assert r.status_code == 201, r.text
        channel_id = r.json()["id"]
        # A person who signed up (not declared in the file, so an admin may suspend them).
        body = {"email": "eve@example.com", "password": password, "password_confirm": password}
        assert c.post("/api/auth/signup", json=body).status_code == 201
        users = c.get("/api/admin/users", params={"q": "eve@"}, headers=admin).json()["data"]
        uid = next(u["id"] for u in users if u["email"] == "eve@example.com")
        assert c.post(f"/api/admin/users/{uid}/verify", headers=admin).status_code == 200
        credit = {"amount_usd": "5", "reason": "test"}
        r = c.post(f"/api/admin/users/{uid}/balance", json=credit, headers=admin)
        assert r.status_code == 201, r.text
        r = c.post(
            "/api/admin/keys",
            json={"name": "eve", "group": "default", "user_id": uid},
            headers=admin,
        )
        assert r.status_code in (200, 201), r.text
        key = r.json()["key"]
    wait_until(lambda: _chat(b, "gpt-chan", key).status_code == 200, what="node B serving eve")

    with a.client() as c:
        r = c.post(f"/api/admin/channels/{channel_id}/disable", headers=admin)
        assert r.status_code == 200, r.text
    assert _chat(a, "gpt-chan", key).status_code != 200  # the editing node: at once
    refused = wait_until(
        lambda: (r := _chat(b, "gpt-chan", key)).status_code != 200 and r,
        timeout=1.0,
        what="node B refusing the disabled channel's only model within 1 s",
    )
    assert refused.status_code == 503, refused.text
    assert _chat(b, "gpt-test", key).status_code == 200  # the file's channel still serves

    with a.client() as c:
        r = c.post(f"/api/admin/users/{uid}/suspend", headers=admin)
        assert r.status_code == 200, r.text
    assert _chat(a, "gpt-test", key).status_code == 401
    refused = wait_until(
        lambda: (r := _chat(b, "gpt-test", key)).status_code != 200 and r,
        timeout=1.0,
        what="node B refusing the suspended user's key within 1 s",
    )
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["code"] == "USER_INACTIVE"  # E5


@pytest.mark.redis
@pytest.mark.postgres
def test_login_failures_count_across_nodes(
    two_nodes: tuple[GatewayProcess, GatewayProcess, str],
) -> None:
    """Issue 13 point 5 (R12.1): five failures lock an account for the deployment, not per
    node — they are counted in Redis."""
    a, b, _ = two_nodes
    body = {"email": "ghost@example.com", "password": "not the password"}
    codes = []
    for i in range(6):
        with (a if i % 2 else b).client() as c:
            r = c.post("/api/auth/login", json=body)
            codes.append((r.status_code, r.json()["error"]["code"]))
    assert [s for s, _ in codes[:5]] == [401] * 5, codes
    assert codes[5] == (429, "ACCOUNT_LOCKED"), codes
