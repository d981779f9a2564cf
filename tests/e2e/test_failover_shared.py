"""Two gateway processes on Redis and PostgreSQL agree on channel state (SPEC R9.6, R9.2;
issue 8 item 5): a cooldown decided by one node is honoured by the other, and a session keeps
its channel across nodes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import drop_pg_database, make_pg_database
from tests.e2e.conftest import KEY
from tests.e2e.harness import GatewayProcess, MockProcess, wait_until
from tests.e2e.test_admission_setup import redis_db_url
from torouter.crypto import generate_key

OAI = {"Authorization": f"Bearer {KEY}"}


def config(limited: str, healthy: str, extra: str, secret: str) -> str:
    chans = ""
    for name, url, model, prio in (
        ("s-limited", limited, "m-shared", 0),
        ("s-backup", healthy, "m-shared", 1),
        ("s-aff-1", healthy, "m-sticky", 0),
        ("s-aff-2", healthy, "m-sticky", 0),
        ("s-aff-3", healthy, "m-sticky", 0),
    ):
        chans += (
            f'[[channels]]\nname = "{name}"\nplatform = "openai"\nbase_url = "{url}/v1"\n'
            f'credential = "{name}"\nmodels = ["{model}"]\ngroups = ["default"]\n'
            f"priority = {prio}\n"
        )
    models = "".join(
        f'[[models]]\nid = "{m}"\nvendor = "openai"\nendpoints = ["chat"]\n'
        "prices = { input = 1, output = 1 }\n"
        for m in ("m-shared", "m-sticky")
    )
    return f"""
data_dir = "{{dir}}/data"
encryption_key = "{secret}"
{extra}
[server]
port = {{port}}
[demo]
enabled = false
[routing]
lru_granularity_ms = 0
[[groups]]
name = "default"
models = ["m-shared", "m-sticky"]
{models}
{chans}
[[users]]
email = "shared@example.com"
verified = true
balance_usd = 100
[[keys]]
name = "k"
user = "shared@example.com"
group = "default"
key = "{KEY}"
"""


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    if not os.environ.get("TOROUTER_TEST_PG_URL") or not os.environ.get("TOROUTER_TEST_REDIS_URL"):
        if os.environ.get("CI") == "true":
            raise RuntimeError("PostgreSQL and Redis are required under CI")
        pytest.skip("TOROUTER_TEST_PG_URL / TOROUTER_TEST_REDIS_URL not set")
    pg = asyncio.run(make_pg_database())
    limited = MockProcess(tmp_path, 'retry_after_s = 60\n[faults]\n"429" = 1.0\n')
    healthy = MockProcess(tmp_path)
    extra = f'[database]\nurl = "{pg}"\n[redis]\nurl = "{redis_db_url(2)}"'
    cfg = config(limited.url, healthy.url, extra, generate_key())
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = GatewayProcess(tmp_path / "a", cfg)
    b = GatewayProcess(tmp_path / "b", cfg)
    a.cli("migrate", "up", "--config", str(a.config_path))
    a.start()
    b.start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()
        limited.stop()
        healthy.stop()
        asyncio.run(drop_pg_database(pg))


def chat(gw: GatewayProcess, model: str, **extra: object) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}
    with gw.client() as c:
        r = c.post("/v1/chat/completions", json=body, headers=OAI)
    assert r.status_code == 200, r.text
    return r


def attempts(gw: GatewayProcess, r: httpx.Response) -> list[tuple[int, str]]:
    line = gw.access_line(r.headers["x-request-id"])
    return [(a["channel_id"], a["class"]) for a in line["attempts"]]


@pytest.mark.redis
@pytest.mark.postgres
def test_a_cooldown_on_one_node_is_honoured_by_the_other(
    nodes: tuple[GatewayProcess, GatewayProcess],
) -> None:
    a, b = nodes
    first = attempts(a, chat(a, "m-shared"))
    assert [cls for _, cls in first] == ["rate_limited", "success"]
    limited_id = first[0][0]
    b.wait_log(
        lambda r: r.get("msg") == "channel cooling (peer)" and r.get("channel") == limited_id,
        what="the cooldown to reach node b",
    )
    second = attempts(b, chat(b, "m-shared"))
    assert [cls for _, cls in second] == ["success"]
    assert second[0][0] != limited_id  # node b never tried the cooling channel


@pytest.mark.redis
@pytest.mark.postgres
def test_a_session_keeps_its_channel_across_nodes(
    nodes: tuple[GatewayProcess, GatewayProcess],
) -> None:
    a, b = nodes
    for n in range(5):
        on_a = attempts(a, chat(a, "m-sticky", user=f"session-{n}"))[0][0]
        seen = n

        def arrived(seen: int = seen) -> bool:
            return sum(r.get("msg") == "channel affinity (peer)" for r in list(b.lines)) > seen

        wait_until(arrived, what="the session to reach node b")
        on_b = attempts(b, chat(b, "m-sticky", user=f"session-{n}"))[0][0]
        assert on_a == on_b
