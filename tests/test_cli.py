"""`torouter serve` start-up rules: configuration errors, the single-process lock, demo reuse
(SPEC R1.5, R17.6, R17.9, R17.10)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.harness import TOROUTER, GatewayProcess

EMBEDDED = """
data_dir = "{dir}/data"
[server]
port = {port}
"""

WORKERS_MSG = (
    "server.workers: several workers need Redis (set redis.url); in-process counters cannot be "
    "shared"
)


def run_cli(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TOROUTER, *args], cwd=tmp_path, capture_output=True, text=True, timeout=timeout
    )


def test_workers_without_redis_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'data_dir = "{tmp_path}/data"\n[server]\nworkers = 2\n')
    out = run_cli(tmp_path, "serve", "--config", str(cfg))
    assert out.returncode == 2
    assert WORKERS_MSG in out.stderr


def test_wrong_entry_stops_serve_naming_file_entry_and_field(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path}/data"\n'
        "[[channels]]\n"
        'name = "anthropic-main"\n'
        'platform = "anthropik"\n'
        'credential = "x"\n'
    )
    out = run_cli(tmp_path, "serve", "--config", str(cfg))
    assert out.returncode == 2
    assert "bad.toml" in out.stderr
    assert '[[channels]] #1 (name "anthropic-main")' in out.stderr
    assert 'field "platform"' in out.stderr


def test_demo_created_once_and_reused(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path, EMBEDDED).start()
    gw.stop()
    demo = tmp_path / "data" / "demo.txt"
    first = demo.read_text()
    assert b"API key:" in gw.stderr
    gw.start()
    try:
        assert demo.read_text() == first
        assert b"API key:" not in gw.stderr  # the banner is shown once
        key = next(
            line.split()[2] for line in first.splitlines() if line.strip().startswith("API key:")
        )
        with gw.client() as c:
            r = c.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200
        ids = [m["id"] for m in r.json()["data"]]
        assert {"demo-gpt", "demo-claude", "demo-gemini", "demo-embed"} <= set(ids)
        assert "demo-claude-thinking" in ids
    finally:
        gw.stop()


def test_migrate_check_and_up(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'data_dir = "{tmp_path}/data"\n')
    assert run_cli(tmp_path, "migrate", "check", "--config", str(cfg)).returncode == 1
    assert run_cli(tmp_path, "migrate", "up", "--config", str(cfg)).returncode == 0
    assert run_cli(tmp_path, "migrate", "check", "--config", str(cfg)).returncode == 0


async def test_migrate_up_encrypts_proxies_with_the_configured_key(tmp_path: Path) -> None:
    """Migration 0005 through `torouter migrate up` (the PostgreSQL path; SQLite here): the
    configuration's `encryption_key` encrypts the proxy URLs a 0004 database held in clear."""
    import datetime as dt
    import sqlite3

    from sqlalchemy import insert, text

    from torouter import crypto
    from torouter.storage.db import Database
    from torouter.storage.migrate import upgrade
    from torouter.storage.tables import channels

    key = crypto.generate_key()
    (tmp_path / "data").mkdir()
    url = "http://alice:pr0xy-s3cret@10.0.0.5:3128"
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'torouter.db'}")
    try:
        await upgrade(db, "0004")
        async with db.begin() as conn:
            row = {"name": "c", "platform": "openai", "created_at": dt.datetime.now(dt.UTC)}
            await conn.execute(insert(channels).values(row))
            await conn.execute(text("UPDATE channels SET proxy = :u"), {"u": url})
    finally:
        await db.dispose()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'data_dir = "{tmp_path}/data"\nencryption_key = "{key}"\n')
    out = run_cli(tmp_path, "migrate", "up", "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    con = sqlite3.connect(tmp_path / "data" / "torouter.db")
    (stored,) = con.execute("SELECT proxy_enc FROM channels").fetchone()
    con.close()
    assert "pr0xy-s3cret" not in stored
    assert crypto.decrypt(stored, crypto.Keyring.from_setting(key)) == url


def test_rotate_encryption_key(tmp_path: Path) -> None:
    """R18.2: every secret re-encrypted under the new primary key, the channel's egress proxy
    (R9.1) included; the old one can then go."""
    import sqlite3

    from torouter import crypto

    old = run_cli(tmp_path, "gen-secret").stdout.strip()
    new = run_cli(tmp_path, "gen-secret").stdout.strip()
    body = (
        f'data_dir = "{tmp_path}/data"\n'
        "[[channels]]\n"
        'name = "c1"\nplatform = "openai"\ncredential = "sk-upstream-secret"\n'
        'proxy = "http://alice:pr0xy-s3cret@10.0.0.5:3128"\n'
    )
    first = tmp_path / "a.toml"
    first.write_text(f'encryption_key = "{old}"\n' + body)
    assert run_cli(tmp_path, "apply", str(first)).returncode == 0
    second = tmp_path / "b.toml"
    second.write_text(f'encryption_key = "{new},{old}"\n' + body)
    out = run_cli(tmp_path, "rotate-encryption-key", "--config", str(second))
    assert out.returncode == 0 and "re-encrypted 2" in out.stdout, out.stderr
    con = sqlite3.connect(tmp_path / "data" / "torouter.db")
    token, proxy = con.execute("SELECT credential_enc, proxy_enc FROM channels").fetchone()
    con.close()
    assert "sk-upstream-secret" not in token and "pr0xy-s3cret" not in proxy
    only_new = crypto.Keyring.from_setting(new)
    assert crypto.decrypt(token, only_new) == "sk-upstream-secret"
    assert crypto.decrypt(proxy, only_new) == "http://alice:pr0xy-s3cret@10.0.0.5:3128"
