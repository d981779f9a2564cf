"""The backup and restore steps of docs/operations.md, run as written (SPEC R17.11: "backups and
restore of PostgreSQL"): a database that served real traffic is dumped while its gateway runs,
restored into a fresh database, and must hold the same balances, ledger and usage, pass
`torouter migrate check`, and keep serving and billing. The SQLite online backup likewise."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url

from tests.conftest import drop_pg_database, make_pg_database, pg_base_url
from tests.deploy.kit import REPO, tool
from tests.deploy.traffic import ADMIN_PASSWORD, CONFIG, KEY, START_TIMEOUT, exercise
from tests.e2e.harness import GatewayProcess, wait_until
from tests.e2e.test_admission_setup import redis_db_url
from torouter.storage import tables as t
from torouter.storage.db import Database

DOC = REPO / "docs/operations.md"


def documented(name: str) -> str:
    """The shell block the docs mark `<!-- tested: NAME -->`."""
    m = re.search(rf"<!-- tested: {name} -->\n```sh\n(.*?)```", DOC.read_text(), re.S)
    assert m is not None, name
    return m.group(1)


def sh(script: str, cwd: Path, env: dict[str, str]) -> str:
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def libpq_env() -> dict[str, str]:
    """The test server as the libpq variables the documented commands rely on."""
    url = make_url(pg_base_url())
    return {
        **os.environ,
        "PGHOST": url.host or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "postgres",
        "PGPASSWORD": url.password or "",
        "PATH": f"{sys.prefix}/bin:{os.environ['PATH']}",
    }


async def _state(url: str) -> dict[str, Any]:
    db = Database(url)
    try:
        async with db.connect() as conn:
            users = (
                await conn.execute(
                    select(t.users.c.id, t.users.c.email, t.users.c.balance_nusd).order_by(
                        t.users.c.id
                    )
                )
            ).all()
            ledger = (
                await conn.execute(
                    select(
                        t.ledger.c.id,
                        t.ledger.c.user_id,
                        t.ledger.c.amount_nusd,
                        t.ledger.c.reason,
                        t.ledger.c.reference,
                        t.ledger.c.balance_after_nusd,
                    ).order_by(t.ledger.c.id)
                )
            ).all()
            usage = (
                await conn.execute(
                    select(
                        t.usage_logs.c.admission_id,
                        t.usage_logs.c.request_id,
                        t.usage_logs.c.status,
                        t.usage_logs.c.cost_nusd,
                        t.usage_logs.c.output_tokens,
                    ).order_by(t.usage_logs.c.id)
                )
            ).all()
        return {"users": users, "ledger": ledger, "usage": usage}
    finally:
        await db.dispose()


def state(url: str) -> dict[str, Any]:
    return asyncio.run(_state(url))


def assert_books_balance(books: dict[str, Any]) -> None:
    """Each user's balance is the sum of their ledger (R14.1)."""
    for user_id, _, balance in books["users"]:
        entries = [e for e in books["ledger"] if e[1] == user_id]
        assert sum(e[2] for e in entries) == balance
        if entries:
            assert entries[-1][5] == balance


def chat(gw: GatewayProcess) -> str:
    with gw.client() as c:
        r = c.post(
            "/v1/chat/completions",
            json={"model": "gpt-ok", "messages": [{"role": "user", "content": "after restore"}]},
            headers={"Authorization": f"Bearer {KEY}"},
        )
    assert r.status_code == 200, r.text
    return r.headers["x-request-id"]


def test_postgres_backup_and_restore_as_documented(tmp_path: Path) -> None:
    tool("pg_dump")
    tool("pg_restore")
    source = asyncio.run(make_pg_database())
    restored_name = f"torouter_restored_{secrets.token_hex(6)}"
    restored = make_url(source).set(database=restored_name).render_as_string(hide_password=False)
    env = libpq_env()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    try:
        gw = GatewayProcess(
            tmp_path / "a",
            CONFIG,
            env={
                "DEPLOY_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "TOROUTER_DATABASE__URL": source,
                "TOROUTER_REDIS__URL": redis_db_url(3),
            },
        )
        gw.cli("migrate", "up", "--config", str(gw.config_path))
        gw.start(timeout=START_TIMEOUT)
        try:
            ids = exercise(gw)
            # Every row the traffic leaves, the failed call's too: a row written after the
            # dump would be in the source and not in the copy.
            wait_until(
                lambda: set(ids.values()) <= {u[1] for u in state(source)["usage"]},
                timeout=20,
                what="usage rows written",
            )
            # Online: the dump is taken while the gateway serves.
            backup = documented("pg-backup")
            assert backup.rstrip().endswith(" torouter")
            sh(backup.rstrip()[: -len("torouter")] + make_url(source).database, tmp_path, env)
        finally:
            gw.stop()
        before = state(source)
        assert before["usage"] and any(e[3] == "usage" for e in before["ledger"])
        assert_books_balance(before)

        out = sh(
            documented("pg-restore").replace("torouter_restored", restored_name), tmp_path, env
        )
        assert "schema is current" in out
        after = state(restored)
        assert after == before

        # The restored database serves and bills: Redis emptied first, as the docs say
        # (redis_db_url flushes it), same encryption key (in CONFIG), same provisioning file.
        gw2 = GatewayProcess(
            tmp_path / "b",
            CONFIG,
            env={
                "DEPLOY_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "TOROUTER_DATABASE__URL": restored,
                "TOROUTER_REDIS__URL": redis_db_url(3),
            },
        )
        gw2.start(timeout=START_TIMEOUT)
        try:
            rid = chat(gw2)
            wait_until(
                lambda: rid in {u[1] for u in state(restored)["usage"]},
                timeout=20,
                what="the new usage row",
            )
        finally:
            gw2.stop()
        later = state(restored)
        assert_books_balance(later)
        assert later["ledger"][: len(before["ledger"])] == before["ledger"]
        (new_row,) = [u for u in later["usage"] if u[1] == rid]
        assert new_row[3] > 0
        # The grant of `balance_usd` is not given twice by the provisioning of the new start.
        grants = [e for e in later["ledger"] if e[3] != "usage"]
        assert grants == [e for e in before["ledger"] if e[3] != "usage"]
        balance = {u[1]: u[2] for u in later["users"]}["ops@example.com"]
        assert balance == {u[1]: u[2] for u in before["users"]}["ops@example.com"] - new_row[3]
    finally:
        asyncio.run(drop_pg_database(restored))
        asyncio.run(drop_pg_database(source))


def test_sqlite_online_backup_as_documented(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path, CONFIG, env={"DEPLOY_ADMIN_PASSWORD": ADMIN_PASSWORD})
    db_file = tmp_path / "data" / "torouter.db"
    url = f"sqlite+aiosqlite:///{db_file}"
    gw.start(timeout=START_TIMEOUT)
    try:
        ids = exercise(gw)
        wait_until(
            lambda: set(ids.values()) <= {u[1] for u in state(url)["usage"]},
            timeout=20,
            what="usage rows written",
        )
        # While the gateway runs, with its WAL in use.
        sh(documented("sqlite-backup"), tmp_path, {**os.environ})
        before = state(url)
    finally:
        gw.stop()
    copy = tmp_path / "torouter-backup.db"
    assert state(f"sqlite+aiosqlite:///{copy}") == before
    assert_books_balance(before)
    # Restore: replace the file (and drop the WAL files), start, serve.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    copy.rename(db_file)
    gw.start(timeout=START_TIMEOUT)
    try:
        rid = chat(gw)
        wait_until(lambda: rid in {u[1] for u in state(url)["usage"]}, what="the new usage row")
    finally:
        gw.stop()
    assert_books_balance(state(url))
