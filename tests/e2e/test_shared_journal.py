"""A node killed with rows not yet written, never to come back: another node writes them from
the shared journal within 10 s, each once (R11.2, issue 18 point 3), on PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.e2e.harness import GatewayProcess, wait_until
from tests.e2e.test_admission_setup import redis_db_url
from tests.e2e.test_concurrency import KEYS, config, pg_url
from torouter.crypto import generate_key
from torouter.usage.shared_journal import GROUP, STREAM

__all__ = ["pg_url"]  # the fixture, imported for its use here

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

INITIAL_NUSD = 100 * 10**9  # admin@example.com's provisioned balance
REQUESTS = 24


def books(db_url: str) -> tuple[list[tuple[str, str, int]], int, int]:
    """(request id, admission id, cost) of admin@example.com's rows, its balance, its ledger."""

    async def read() -> tuple[list[tuple[str, str, int]], int, int]:
        engine = create_async_engine(db_url)
        try:
            async with engine.connect() as conn:
                uid = (
                    await conn.execute(
                        text("SELECT id FROM users WHERE email = 'admin@example.com'")
                    )
                ).scalar_one()
                rows = (
                    await conn.execute(
                        text(
                            "SELECT request_id, admission_id, cost_nusd FROM usage_logs "
                            "WHERE user_id = :u"
                        ),
                        {"u": uid},
                    )
                ).all()
                balance = (
                    await conn.execute(
                        text("SELECT balance_nusd FROM users WHERE id = :u"), {"u": uid}
                    )
                ).scalar_one()
                ledger = (
                    await conn.execute(
                        text("SELECT COALESCE(SUM(amount_nusd), 0) FROM ledger WHERE user_id = :u"),
                        {"u": uid},
                    )
                ).scalar_one()
                return [tuple(r) for r in rows], int(balance), int(ledger)  # type: ignore[misc]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def pending(stream: redis.Redis) -> int:
    try:
        return int(stream.xpending(STREAM, GROUP)["pending"])
    except redis.ResponseError:  # NOGROUP: the first row is not published yet
        return 0


@pytest.fixture
def nodes(tmp_path: Path, pg_url: str) -> Iterator[tuple[GatewayProcess, GatewayProcess, str]]:
    """Node A writes usage only once an hour (its rows stay queued); node B as configured."""
    redis_url = redis_db_url(2)
    extra = f'[database]\nurl = "{pg_url}"\n[redis]\nurl = "{redis_url}"'
    secret = generate_key()
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    slow = {"TOROUTER_USAGE__FLUSH_INTERVAL_S": "3600", "TOROUTER_USAGE__BATCH_SIZE": "100000"}
    a = GatewayProcess(tmp_path / "a", config(extra, secret), env=slow)
    b = GatewayProcess(tmp_path / "b", config(extra, secret))
    a.cli("migrate", "up", "--config", str(a.config_path))
    a.start()
    b.start()
    try:
        yield a, b, redis_url
    finally:
        a.stop(signal.SIGKILL)
        b.stop()


def test_a_killed_nodes_rows_are_written_by_another_node_within_10_s(
    nodes: tuple[GatewayProcess, GatewayProcess, str], pg_url: str
) -> None:
    a, b, redis_url = nodes
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    auth = {"Authorization": f"Bearer {KEYS['victim']}"}
    served = []
    with a.client() as c:
        for _ in range(REQUESTS):
            r = c.post("/v1/chat/completions", json=body, headers=auth)
            assert r.status_code == 200, r.text
            served.append(r.headers["x-request-id"])
    stream = redis.Redis.from_url(redis_url)
    try:
        # Every row is in the stream, pending under node A; none is in the database yet.
        wait_until(
            lambda: pending(stream) == REQUESTS,
            timeout=30,
            what="node A's rows in the shared journal",
        )
        assert books(pg_url)[0] == []
        assert a.proc is not None
        a.proc.kill()  # kill -9: its queue and its local journal are gone for good
        a.proc.wait(10)
        killed = time.monotonic()
        wait_until(
            lambda: len(books(pg_url)[0]) == REQUESTS,
            timeout=10,
            what="node B writing node A's rows",
        )
        took = time.monotonic() - killed
        print(f"node A's {REQUESTS} rows written by node B {took:.2f} s after the kill")
        rows, balance, ledger = books(pg_url)
        assert sorted(r[0] for r in rows) == sorted(served)  # each served request, once
        assert len({r[1] for r in rows}) == REQUESTS
        charged = sum(r[2] for r in rows)
        assert charged > 0
        assert balance == ledger == INITIAL_NUSD - charged
        wait_until(lambda: stream.xlen(STREAM) == 0, timeout=10, what="the entries deleted")

        def written_by_b() -> int:  # B logs the sweep after its commit: await the line
            return sum(
                r["written"]
                for r in list(b.lines)
                if r.get("msg") == "shared usage journal: wrote rows of a stopped node"
            )

        wait_until(lambda: written_by_b() >= REQUESTS, timeout=10, what="node B's sweep logged")
        assert written_by_b() == REQUESTS  # each row written once, by B
    finally:
        stream.close()
    # Node B kept serving throughout.
    with httpx.Client(base_url=b.url, timeout=30) as c:
        assert c.post("/v1/chat/completions", json=body, headers=auth).status_code == 200
