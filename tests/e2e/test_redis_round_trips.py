"""Scaled out, a request needs one pipelined Redis round trip to admit and one to settle (SPEC
R20.3, issue 18 point 5), counted at the Redis seam: the gateway process (PostgreSQL + Redis)
talks to Redis through a relay that records every round trip and the commands in it
(`redis_proxy.py`). Keys with every limit and cap on (request windows, TPM, concurrency, key
quota and day budget, the per-IP window), balance and subscription billing, non-stream and
stream. The settlement round trip also carries the usage row to the shared journal's stream
(R11.2): the row is in Redis as soon as the charge is."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.connection import parse_url

from tests.e2e.harness import GatewayProcess
from tests.e2e.redis_proxy import Command, RedisCountingProxy
from tests.e2e.test_admission_setup import redis_db_url
from tests.e2e.test_concurrency import config, key_of, pg_url
from torouter.crypto import generate_key
from torouter.state import lua

__all__ = ["pg_url"]  # the fixture, imported for its use here

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

REQUESTS = 8  # per scenario, after the warm-up

LIMITS = """requests_5h = 100000
requests_1d = 100000
rpm = 10000
tpm = 100000000
max_concurrency = 50
budget_daily_usd = 50"""

EXTRA_ENTRIES = f"""
[[plans]]
name = "roomy"
group = "subs"
daily_cap_usd = 50
weekly_cap_usd = 100

[[users]]
email = "rt-sub@example.com"
verified = true

[[subscriptions]]
user = "rt-sub@example.com"
plan = "roomy"

[[keys]]
name = "rt-balance"
user = "admin@example.com"
group = "default"
quota_usd = 50
{LIMITS}
key = "{key_of("rtbal")}"

[[keys]]
name = "rt-sub"
user = "rt-sub@example.com"
group = "subs"
quota_usd = 50
{LIMITS}
key = "{key_of("rtsub")}"
"""

SCRIPTS = {
    hashlib.sha1(text.encode()).hexdigest().encode(): name
    for name, text in (
        ("admit", lua.ADMIT),
        ("ip", lua.IP_WINDOW),
        ("settle", lua.SETTLE),
        ("release", lua.RELEASE),
        ("undo", lua.UNDO),
        ("append", lua.STREAM_APPEND),
        ("seed", lua.SEED),
        ("add", lua.ADD),
    )
}

# What the node's own background tasks send, on their own connections: the shared journal's
# sweep (XAUTOCLAIM, then XACK + XDEL), lease renewal (ZADD), pub/sub, health checks, and the
# publisher's idle acknowledgements (the append script with no row).
BACKGROUND = {b"XAUTOCLAIM", b"XACK", b"XDEL", b"ZADD", b"PING", b"SUBSCRIBE", b"PSUBSCRIBE"}
# A connection's set-up (a pool growing, or a background task's first connection).
HANDSHAKE = {b"HELLO", b"CLIENT", b"SELECT", b"AUTH"}


def name(cmd: Command) -> str:
    """A command as the test reads it: scripts by name (the append with its row count)."""
    if cmd[0] in (b"EVALSHA", b"EVAL"):
        script = SCRIPTS.get(cmd[1], "unknown-script")
        if script == "append":
            return f"append:{int(cmd[6])}"
        return script
    return cmd[0].decode()


def request_path(exchanges: list[list[Command]]) -> list[tuple[str, ...]]:
    """The round trips that are not the background tasks', each as its command names."""
    out = []
    for ex in exchanges:
        names = tuple(name(c) for c in ex)
        if all(c[0] in BACKGROUND | HANDSHAKE for c in ex) or names == ("append:0",):
            continue
        out.append(names)
    return out


@pytest.fixture
def node(tmp_path: Path, pg_url: str) -> Iterator[tuple[GatewayProcess, RedisCountingProxy]]:
    target = parse_url(redis_db_url(3))
    proxy = RedisCountingProxy(target.get("host", "127.0.0.1"), target.get("port", 6379)).start()
    redis_url = f"redis://127.0.0.1:{proxy.port}/{target.get('db', 0)}"
    extra = (
        f'[database]\nurl = "{pg_url}"\n[redis]\nurl = "{redis_url}"\n[gateway]\nip_rpm = 100000'
    )
    gw = GatewayProcess(tmp_path, config(extra, generate_key()) + EXTRA_ENTRIES)
    gw.cli("migrate", "up", "--config", str(gw.config_path))
    gw.start()
    try:
        yield gw, proxy
    finally:
        gw.stop()
        proxy.stop()


def chat(stream: bool) -> dict[str, object]:
    body: dict[str, object] = {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": "hello [[mock:tokens=5]]"}],
        "max_tokens": 20,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
@pytest.mark.parametrize("key", ["rtbal", "rtsub"], ids=["balance", "subscription"])
def test_one_round_trip_to_admit_and_one_to_settle(
    node: tuple[GatewayProcess, RedisCountingProxy], key: str, stream: bool
) -> None:
    gw, proxy = node
    headers = {"Authorization": f"Bearer {key_of(key)}"}
    with httpx.Client(base_url=gw.url, timeout=30) as c:

        def send() -> None:
            r = c.post("/v1/chat/completions", json=chat(stream), headers=headers)
            assert r.status_code == 200, r.text
            if stream:
                assert '"usage"' in r.text and r.text.rstrip().endswith("[DONE]")

        for _ in range(3):  # warm-up: scripts loaded, counters seeded, connections open
            send()
        proxy.take()
        for _ in range(REQUESTS):
            send()
        exchanges = proxy.take()
    path = request_path(exchanges)
    # The settlement of the last request has returned before its last bytes were sent.
    assert Counter(path) == {("ip", "admit"): REQUESTS, ("append:1", "settle"): REQUESTS}, path
    opened = sum(c[0] == b"HELLO" for ex in exchanges for c in ex)
    assert opened <= 2, exchanges  # not one connection per request
    scripts = [c for ex in exchanges for c in ex if c[0] in (b"SCRIPT", b"EVAL")]
    assert scripts == []  # every call by EVALSHA, no SCRIPT EXISTS on the way
    if os.environ.get("TOROUTER_TEST_VERBOSE"):
        print(Counter(tuple(name(c) for c in ex) for ex in exchanges))
