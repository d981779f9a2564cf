"""The `torouter` command line a newcomer meets (R17.6, R17.10, R7.12): `--version`, `-h`, plain
help, every deployment command on the configured deployment (`--config/-c` or
`TOROUTER_CONFIG`), never a new database in the current directory, and CLI writes that a
running gateway sees at once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import TOROUTER, GatewayProcess, wait_until
from torouter import __version__

DEPLOYMENT_COMMANDS = [
    "serve",
    "migrate",
    "apply",
    "create-admin",
    "set-password",
    "create-admin-token",
    "demo",
    "rotate-encryption-key",
    "check-config",
]

EMBEDDED = """
data_dir = "{dir}/data"
[server]
port = {port}
"""


def run_cli(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TOROUTER_")}
    return subprocess.run(
        [*TOROUTER, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean, **(env or {})},
    )


def test_version_and_short_help(tmp_path: Path) -> None:
    out = run_cli(tmp_path, "--version")
    assert out.returncode == 0 and out.stdout == f"torouter {__version__}\n"
    short = run_cli(tmp_path, "-h")
    assert short.returncode == 0 and "Usage:" in short.stdout and "apply" in short.stdout
    assert short.stdout == run_cli(tmp_path, "--help").stdout


@pytest.mark.parametrize("command", DEPLOYMENT_COMMANDS)
def test_every_deployment_command_takes_config(tmp_path: Path, command: str) -> None:
    out = run_cli(tmp_path, command, "-h")
    assert out.returncode == 0, out.stderr
    assert "-c, --config FILE" in out.stdout
    assert "TOROUTER_CONFIG" in out.stdout


@pytest.mark.parametrize("command", [*DEPLOYMENT_COMMANDS, "mock-provider", "fake-stripe"])
def test_help_shows_no_types_and_keeps_brackets(tmp_path: Path, command: str) -> None:
    text = run_cli(tmp_path, command, "-h").stdout
    for type_name in ("TEXT", "INTEGER", "PATH", "BOOLEAN", "<bool>", "<int>", "<text>"):
        assert type_name not in text, (command, type_name)
    assert "R17" not in text and "SPEC" not in text  # no references to files users lack
    if command == "apply":
        assert "[[groups]], [[channels]]" in text


def test_commands_never_create_a_database_in_the_current_directory(tmp_path: Path) -> None:
    for args in (
        ("create-admin-token",),
        ("migrate", "check"),
        ("demo",),
        ("rotate-encryption-key",),
    ):
        out = run_cli(tmp_path, *args)
        assert out.returncode == 2, (args, out.stderr)
        assert f"no database at {tmp_path / 'data' / 'torouter.db'}" in out.stderr
        assert "--config" in out.stderr
    env = {"TOROUTER_ADMIN_PASSWORD": "a-long-password-1"}
    out = run_cli(tmp_path, "create-admin", "--email", "a@example.com", env=env)
    assert out.returncode == 2
    assert not (tmp_path / "data").exists()


def deployment(tmp_path: Path) -> Path:
    """A migrated embedded deployment in its own folder; returns its config file."""
    home = tmp_path / "deploy"
    home.mkdir()
    cfg = home / "torouter.toml"
    cfg.write_text('data_dir = "data"\n[demo]\nenabled = false\n')
    assert run_cli(home, "migrate", "up", "-c", str(cfg)).returncode == 0
    return cfg


def names(db: Path, table: str) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return [r[0] for r in con.execute(f"SELECT name FROM {table} ORDER BY name")]
    finally:
        con.close()


@pytest.mark.parametrize("how", ["flag", "env"])
def test_apply_writes_to_the_configured_deployment(tmp_path: Path, how: str) -> None:
    cfg = deployment(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    decl = elsewhere / "groups.toml"
    decl.write_text('[[groups]]\nname = "team"\n')
    if how == "flag":
        out = run_cli(elsewhere, "apply", str(decl), "-c", str(cfg))
    else:
        out = run_cli(elsewhere, "apply", str(decl), env={"TOROUTER_CONFIG": str(cfg)})
    assert out.returncode == 0, out.stderr
    assert "team" in names(cfg.parent / "data" / "torouter.db", "groups")
    assert not (elsewhere / "data").exists()


def test_apply_refuses_settings_in_the_declarations_file(tmp_path: Path) -> None:
    cfg = deployment(tmp_path)
    decl = tmp_path / "decl.toml"
    decl.write_text('data_dir = "/tmp/x"\n[[group]]\nname = "team"\n')
    out = run_cli(tmp_path, "apply", str(decl), "-c", str(cfg))
    assert out.returncode == 2
    assert f"ToRouter: {decl}: data_dir: only [[table]] declarations belong here" in out.stderr
    assert f"ToRouter: {decl}: group: unknown table (did you mean [[groups]]?)" in out.stderr


def test_create_admin_token_acts_on_the_configured_deployment(tmp_path: Path) -> None:
    cfg = deployment(tmp_path)
    out = run_cli(
        tmp_path, "create-admin-token", "--name", "ops", env={"TOROUTER_CONFIG": str(cfg)}
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("tra_")
    assert "ops" in names(cfg.parent / "data" / "torouter.db", "admin_tokens")
    assert not (tmp_path / "data").exists()


def test_mock_provider_says_where_it_listens(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*TOROUTER, "mock-provider", "--port", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("mock providers listening on http://127.0.0.1:")
        url = first.split()[-1]
        assert proc.stdout.readline().strip() == f"OpenAI base URL:    {url}/v1"
        r = wait_until(lambda: _get(url + "/v1/models"), timeout=30, what="mock answering")
        assert r.status_code in (200, 401)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None


# -- a running gateway sees CLI writes at once (R7.12) -----------------------------------------

KEY = "sk-" + "Fresh0Key" * 5 + "abc"


def test_apply_reaches_a_running_embedded_gateway_at_once(tmp_path: Path) -> None:
    """Without the signal the new key would be refused (401) until the minute's reload."""
    gw = GatewayProcess(tmp_path, EMBEDDED).start()
    try:
        decl = tmp_path / "decl.toml"
        decl.write_text(
            '[[users]]\nemail = "new@example.com"\nverified = true\nbalance_usd = 5\n'
            f'[[keys]]\nname = "fresh"\nuser = "new@example.com"\ngroup = "default"\n'
            f'key = "{KEY}"\n'
        )
        headers = {"Authorization": f"Bearer {KEY}"}
        with gw.client() as c:
            assert c.get("/v1/models", headers=headers).status_code == 401
            out = gw.cli("apply", str(decl), "-c", str(gw.config_path))
            assert gw.proc is not None
            assert f"asked the running server (pid {gw.proc.pid}) to reload" in out.stdout
            gw.wait_log(lambda r: r.get("msg") == "snapshot reloaded on request", timeout=30)
            r = c.get("/v1/models", headers=headers)
            assert r.status_code == 200, r.text
    finally:
        gw.stop()


@pytest.mark.redis
def test_apply_reaches_running_nodes_through_redis(tmp_path: Path) -> None:
    redis_url = os.environ.get("TOROUTER_TEST_REDIS_URL") or pytest.skip("no test Redis")
    config = EMBEDDED + f'[redis]\nurl = "{redis_url}"\n[demo]\nenabled = false\n'
    gw = GatewayProcess(tmp_path, config).start()
    try:
        decl = tmp_path / "decl.toml"
        decl.write_text(
            '[[groups]]\nname = "default"\n'
            '[[users]]\nemail = "new@example.com"\nverified = true\nbalance_usd = 5\n'
            f'[[keys]]\nname = "fresh"\nuser = "new@example.com"\ngroup = "default"\n'
            f'key = "{KEY}"\n'
        )
        headers = {"Authorization": f"Bearer {KEY}"}
        with gw.client() as c:
            assert c.get("/v1/models", headers=headers).status_code == 401
            out = gw.cli("apply", str(decl), "-c", str(gw.config_path))
            assert "running nodes notified through Redis" in out.stdout
            wait_until(
                lambda: c.get("/v1/models", headers=headers).status_code == 200,
                timeout=20,  # far below the periodic reload's minute
                what="the key to be served",
            )
    finally:
        gw.stop()
