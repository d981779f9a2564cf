"""deploy/systemd/torouter.service (SPEC R17.11): `systemd-analyze verify` finds nothing,
`systemd-analyze security` rates it low, and the gateway really runs inside the restrictions the
unit asks for (system-call allow-list, address families, no writable+executable memory), on the
embedded default and on PostgreSQL + Redis, with a real login, requests and a clean SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import drop_pg_database, make_pg_database
from tests.deploy.kit import DEPLOY, run, tool
from tests.deploy.traffic import ADMIN_EMAIL, ADMIN_PASSWORD, CONFIG, START_TIMEOUT, exercise
from tests.e2e.harness import GatewayProcess, wait_until
from tests.e2e.test_admission_setup import redis_db_url

UNIT = DEPLOY / "systemd/torouter.service"
SANDBOX = Path(__file__).with_name("systemd_sandbox.py")
SYSTEM_PYTHON = "/usr/bin/python3"
INSTALLED = "/opt/torouter/bin/"  # where the unit expects the virtual environment


def local_unit(tmp_path: Path, text: str | None = None) -> Path:
    """The unit with its virtual environment at this checkout's (verify checks the path)."""
    path = tmp_path / "torouter.service"
    path.write_text((text or UNIT.read_text()).replace(INSTALLED, f"{sys.prefix}/bin/"))
    return path


def options() -> list[tuple[str, str]]:
    section, out = "", []
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out.append((key, value))
    return out


def sandbox() -> list[str]:
    """The launcher that applies the unit's kernel restrictions (needs python3-seccomp)."""
    tool("systemd-analyze")
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import seccomp"], capture_output=True)
    if probe.returncode != 0:
        tool("python3-seccomp (Debian package)")  # skips, or fails under CI
    return [SYSTEM_PYTHON, str(SANDBOX), str(UNIT), "--"]


def test_unit_verifies_without_a_remark(tmp_path: Path) -> None:
    rc, out = run(tool("systemd-analyze"), "verify", str(local_unit(tmp_path)))
    assert rc == 0 and out == "", out


def test_verify_reports_a_wrong_value(tmp_path: Path) -> None:
    """verify exits 0 on an ignored value, so the test above also demands silence."""
    text = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSystem=strcit")
    _, out = run(tool("systemd-analyze"), "verify", str(local_unit(tmp_path, text)))
    assert "ProtectSystem" in out or "protect system" in out.lower(), out


def test_exposure_level_is_low() -> None:
    _, out = run(tool("systemd-analyze"), "security", "--offline=yes", str(UNIT))
    m = re.search(r"Overall exposure level for torouter\.service: ([\d.]+)", out)
    assert m is not None, out
    assert float(m.group(1)) <= 2.0, out


def test_hardening_options() -> None:
    opts = options()
    values = dict(opts)
    expected = {
        "DynamicUser": "yes",
        "StateDirectory": "torouter",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native",
        "LockPersonality": "yes",
        "RestrictNamespaces": "yes",
    }
    for key, value in expected.items():
        assert values.get(key) == value, key
    assert ("SystemCallFilter", "@system-service") in opts
    # The data directory is the state directory, the one writable path.
    assert values["Environment"] == "PYTHONUNBUFFERED=1"
    assert "Environment=TOROUTER_DATA_DIR=/var/lib/torouter" in UNIT.read_text()
    # Migrations before every start; serve with the config file; a stop waits out the drain.
    assert values["ExecStartPre"].endswith(
        "torouter migrate up --config /etc/torouter/torouter.toml"
    )
    assert values["ExecStart"].endswith("torouter serve --config /etc/torouter/torouter.toml")
    assert int(values["TimeoutStopSec"]) > 30  # shutdown.drain_s


def test_sandbox_enforces_the_unit() -> None:
    """The emulation is not vacuous: what the unit forbids fails inside it, the rest works."""
    probe = """
import mmap, os, socket
def attempt(fn):
    try:
        fn()
        return "allowed"
    except OSError as exc:
        return f"errno {exc.errno}"
print(attempt(lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()))
print(attempt(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)))
print(attempt(lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)))
print(attempt(lambda: os.setpriority(os.PRIO_PROCESS, 0, 1)))  # @resources is denied
print(attempt(lambda: os.chown("/", -1, -1)))                  # @privileged is denied
# systemd 252's MemoryDenyWriteExecute also refuses making any existing page executable.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
buf = ctypes.create_string_buffer(3 * mmap.PAGESIZE)
page = (ctypes.addressof(buf) + mmap.PAGESIZE - 1) & ~(mmap.PAGESIZE - 1)
print(libc.mprotect(page, mmap.PAGESIZE, mmap.PROT_READ | mmap.PROT_EXEC), ctypes.get_errno())
"""
    rc, out = run(*sandbox(), SYSTEM_PYTHON, "-c", probe)
    assert rc == 0, out
    expected = ["allowed", "errno 1", "errno 1", "errno 1", "errno 1", "-1 1"]
    assert out.split("\n")[:6] == expected, out


@pytest.fixture(params=["sqlite", "postgres+redis"])
def backends(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {}
        return
    pg = asyncio.run(make_pg_database())
    try:
        yield {"TOROUTER_DATABASE__URL": pg, "TOROUTER_REDIS__URL": redis_db_url(3)}
    finally:
        asyncio.run(drop_pg_database(pg))


def test_gateway_runs_inside_the_unit_sandbox(tmp_path: Path, backends: dict[str, str]) -> None:
    """MemoryDenyWriteExecute=yes and the syscall filter hold with uvloop, httptools, aiohttp,
    cryptography (AES-GCM of the channel credential), argon2 (the admin's password, hashed at
    provisioning and checked at login), asyncpg, hiredis and the SQLite thread loaded and used."""
    gw = GatewayProcess(
        tmp_path,
        CONFIG,
        env={"DEPLOY_ADMIN_PASSWORD": ADMIN_PASSWORD, **backends},
        launcher=sandbox(),
    )
    migrated = gw.cli("migrate", "up", "--config", str(gw.config_path), check=False)
    assert migrated.returncode == 0, migrated.stderr  # ExecStartPre
    gw.start(timeout=START_TIMEOUT)
    try:
        ids = exercise(gw)
        with httpx.Client(base_url=gw.url, timeout=30) as c:
            login = c.post(
                "/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            )
            assert login.status_code == 200, login.text

            def usage_row() -> list[dict[str, object]]:
                r = c.get("/api/admin/usage", params={"request_id": ids["chat"]})
                assert r.status_code == 200, r.text
                return list(r.json()["data"])

            (row,) = wait_until(usage_row, timeout=20, what="the usage row")
            assert row["request_id"] == ids["chat"] and row["status"] == 200
    finally:
        rc = gw.stop()
    # uvicorn re-raises SIGTERM after its graceful shutdown; systemd counts that as a clean stop.
    assert rc in (0, -signal.SIGTERM), gw.stderr.decode(errors="replace")[-2000:]
    errors = [r for r in gw.lines if r.get("level") in ("ERROR", "CRITICAL")]
    assert not errors, errors
    assert b"Traceback" not in gw.stderr
    assert any(r.get("msg") == "shutdown complete" for r in gw.lines)
