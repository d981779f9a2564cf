"""`torouter serve` and `check-config` exit codes a supervisor can trust (R17.6), run as the
real CLI in a subprocess: a failed bind, lock, migration or worker start is non-zero, the demo
banner and "ready" come only once the socket listens, and `check-config` refuses what `serve`
refuses, one `file: section.key: message` line each."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import drop_pg_database, make_pg_database
from tests.e2e.harness import TOROUTER, GatewayProcess, free_port, wait_until
from torouter.crypto import generate_key

EMBEDDED = """
data_dir = "{dir}/data"
[server]
port = {port}
"""


def run_cli(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TOROUTER_")}
    return subprocess.run(
        [*TOROUTER, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean, **(env or {})},
    )


@pytest.fixture
async def empty_pg_url() -> AsyncIterator[str]:
    url = await make_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


def test_a_port_in_use_exits_1_before_any_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'data_dir = "{tmp_path}/data"\n[server]\nport = {port}\n')
        out = run_cli(tmp_path, "serve", "--config", str(cfg))
    assert out.returncode == 1, out.stderr
    assert f"ToRouter: cannot listen on 127.0.0.1:{port}: Address already in use" in out.stderr
    assert "API key:" not in out.stderr  # no demo banner for a server that never listened
    assert '"ready"' not in out.stdout
    assert not (tmp_path / "data" / "demo.txt").exists()


@pytest.mark.redis
def test_several_workers_on_a_port_in_use_exit_1(tmp_path: Path) -> None:
    redis_url = os.environ.get("TOROUTER_TEST_REDIS_URL") or pytest.skip("no test Redis")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = tmp_path / "c.toml"
        cfg.write_text(
            f'data_dir = "{tmp_path}/data"\n[server]\nport = {port}\nworkers = 2\n'
            f'[redis]\nurl = "{redis_url}"\n'
        )
        out = run_cli(tmp_path, "serve", "--config", str(cfg))
    assert out.returncode == 1, out.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr


@pytest.mark.redis
def test_a_worker_that_cannot_start_stops_the_parent_with_1(tmp_path: Path) -> None:
    """Workers whose start-up fails (a declared key for a user the database lacks: only the
    database can tell) are all stopped and the parent exits 1, each worker's reason on stderr.
    uvicorn's supervisor used to exit 0 there."""
    redis_url = os.environ.get("TOROUTER_TEST_REDIS_URL") or pytest.skip("no test Redis")
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path}/data"\n'
        f'[server]\nport = {free_port()}\nworkers = 2\n[redis]\nurl = "{redis_url}"\n'
        '[[keys]]\nname = "ci"\nuser = "ghost@example.com"\ngroup = "default"\n'
        f'key = "sha256:{"a" * 64}"\n'
    )
    out = run_cli(tmp_path, "serve", "--config", str(cfg))
    assert out.returncode == 1, out.stderr
    assert 'field "user": unknown user "ghost@example.com"' in out.stderr
    assert "failed to start (its reason is above); stopped every worker" in out.stderr


def test_a_lock_conflict_names_the_lock_file_and_the_holding_pid(tmp_path: Path) -> None:
    first = GatewayProcess(tmp_path, EMBEDDED).start()
    try:
        out = run_cli(
            tmp_path, "serve", "--config", str(first.config_path), "--port", str(free_port())
        )
        assert out.returncode == 2, out.stderr
        assert first.proc is not None
        lock = tmp_path / "data" / "torouter.db.lock"
        assert f"{lock} is locked by process {first.proc.pid}" in out.stderr
        assert "set redis.url to run several" in out.stderr
        assert "several workers need Redis" not in out.stderr  # the old, misleading reason
    finally:
        first.stop()


def test_a_sqlite_file_that_cannot_be_migrated_exits_2(
    tmp_path: Path,
) -> None:
    """The migration runs in a child (R20.1: alembic stays out of the server); its refusal is
    the server's: one sentence, exit 2, no traceback, never "ready"."""
    (tmp_path / "data").mkdir(mode=0o700)
    (tmp_path / "data" / "torouter.db").write_bytes(b"not a database, " * 100)
    cfg = tmp_path / "c.toml"
    cfg.write_text(EMBEDDED.format(dir=tmp_path, port=free_port()))
    out = run_cli(tmp_path, "serve", "--config", str(cfg))
    assert out.returncode == 2, out.stderr
    assert "ToRouter: cannot reach the database: file is not a database" in out.stderr
    assert "Traceback" not in out.stderr
    assert '"ready"' not in out.stdout


@pytest.mark.postgres
async def test_an_empty_postgres_database_says_run_migrate_up(
    tmp_path: Path, empty_pg_url: str
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path}/data"\nencryption_key = "{generate_key()}"\n'
        f'[server]\nport = {free_port()}\n[database]\nurl = "{empty_pg_url}"\n'
    )
    out = run_cli(tmp_path, "serve", "--config", str(cfg))
    assert out.returncode == 2, out.stderr
    assert "ToRouter: the database is not initialised: run `torouter migrate up`" in out.stderr
    assert "Traceback" not in out.stderr
    # migrate up, and the same configuration serves.
    assert run_cli(tmp_path, "migrate", "up", "--config", str(cfg)).returncode == 0
    gw = GatewayProcess(tmp_path, cfg.read_text())
    gw.start()
    try:
        with gw.client() as c:
            assert c.get("/healthz").status_code == 200
    finally:
        gw.stop()


def test_serve_with_port_0_reports_the_port_it_listens_on(tmp_path: Path) -> None:
    """The banner and the "ready" line follow the socket, which listens before them."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'data_dir = "{tmp_path}/data"\n')
    gw = GatewayProcess(tmp_path, cfg.read_text())
    gw.config_path.write_text(gw.config_text)
    gw.port = 0
    gw.start()
    try:
        ready = gw.wait_log(lambda r: r.get("msg") == "ready")
        port = int(ready["url"].rsplit(":", 1)[1])
        assert port != 0
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        # The demo banner's links (stderr: read by its own thread, so awaited, not assumed).
        wait_until(lambda: f"http://127.0.0.1:{port}" in gw.stderr.decode(), what="the banner")
        demo = (tmp_path / "data" / "demo.txt").read_text()
        assert f"http://127.0.0.1:{port}" in demo
    finally:
        gw.stop()


# -- check-config: the same checks, one line each ---------------------------------------------


def test_check_config_names_misspelt_sections_and_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[databse]\nurl = "x"\n[server]\nprot = 9000\n')
    out = run_cli(tmp_path, "check-config", "--config", str(cfg))
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        f"ToRouter: {cfg}: databse: unknown section (did you mean [database]?)",
        f"ToRouter: {cfg}: server.prot: unknown key (did you mean `port`?)",
    ]


def test_check_config_refuses_postgres_without_encryption_key(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[database]\nurl = "postgresql+asyncpg://u@127.0.0.1:1/x"\n')
    out = run_cli(tmp_path, "check-config", "--config", str(cfg))
    assert out.returncode == 2, out.stdout
    assert out.stderr.startswith(
        f"ToRouter: {cfg}: encryption_key: must be set when the database is PostgreSQL"
    )
    # serve refuses it the same way, before it listens.
    served = run_cli(tmp_path, "serve", "--config", str(cfg))
    assert served.returncode == 2
    assert f"{cfg}: encryption_key: must be set" in served.stderr


def test_several_nodes_on_postgres_need_redis(tmp_path: Path) -> None:
    """Issue 18 point 4: a node cannot see its peers before it starts, so a deployment of
    several nodes says so (`server.nodes`); without Redis each node's in-process counters would
    let every node spend a whole limit (R7.11). Both commands refuse, naming the setting."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'encryption_key = "{generate_key()}"\n'
        '[database]\nurl = "postgresql+asyncpg://u@127.0.0.1:1/x"\n[server]\nnodes = 3\n'
    )
    for command in ("check-config", "serve"):
        out = run_cli(tmp_path, command, "--config", str(cfg))
        assert out.returncode == 2, (command, out.stderr)
        assert out.stderr.splitlines() == [
            f"ToRouter: {cfg}: server.nodes: several nodes need Redis (set redis.url): each "
            "node's in-process counters would let every node spend the whole limit"
        ]
    # Set by the environment (the kit's way), the variable is named; with Redis it is fine.
    env = {"TOROUTER_SERVER__NODES": "2"}
    out = run_cli(tmp_path, "check-config", "--config", str(cfg), env=env)
    assert out.returncode == 2
    assert out.stderr.startswith("ToRouter: TOROUTER_SERVER__NODES: server.nodes: several nodes")
    env["TOROUTER_REDIS__URL"] = "redis://127.0.0.1:1/0"
    assert run_cli(tmp_path, "check-config", "--config", str(cfg), env=env).returncode == 0


def test_check_config_refuses_what_serve_refuses(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('timezone = "Mars/Olympus"\n[server]\nworkers = 2\n[log]\nlevel = "LOUD"\n')
    out = run_cli(tmp_path, "check-config", "--config", str(cfg))
    assert out.returncode == 2
    lines = out.stderr.splitlines()
    assert f"ToRouter: {cfg}: server.workers: several workers need Redis" in lines[0]
    assert any(f"{cfg}: timezone: unknown time zone 'Mars/Olympus'" in x for x in lines)
    assert any(f"{cfg}: log.level: must be one of" in x for x in lines)
    assert "validation error" not in out.stderr and "Traceback" not in out.stderr


def test_a_wrong_value_names_the_variable_that_set_it(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[server]\nport = 8080\n")
    out = run_cli(
        tmp_path, "check-config", "--config", str(cfg), env={"TOROUTER_SERVER__PORT": "eighty"}
    )
    assert out.returncode == 2
    assert out.stderr.startswith("ToRouter: TOROUTER_SERVER__PORT: server.port: Input should be")


@pytest.mark.redis
def test_several_workers_share_the_socket_bound_by_the_parent(tmp_path: Path) -> None:
    redis_url = os.environ.get("TOROUTER_TEST_REDIS_URL") or pytest.skip("no test Redis")
    config = EMBEDDED + f'workers = 2\n[redis]\nurl = "{redis_url}"\n[demo]\nenabled = false\n'
    gw = GatewayProcess(tmp_path, config).start()
    try:
        pids = set()
        for _ in range(2):
            line = gw.wait_log(lambda r: r.get("msg") == "ready" and r.get("pid") not in pids)
            pids.add(line["pid"])
            assert line["url"] == gw.url  # the port of the command line reached every worker
        with gw.client() as c:
            assert c.get("/healthz").status_code == 200
    finally:
        gw.stop()
