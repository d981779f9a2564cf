"""haproxy (Debian's package) in front of gateway processes on this machine, with the deployment
kit's own `deploy/haproxy/haproxy.cfg` (R17.11): only what Docker provides is replaced — the
replicas found by DNS become the given local ports, the listeners bind 127.0.0.1 — and the
health checks run every second instead of every 2 s, so a test's node changes are seen quickly."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import free_port, wait_until

__all__ = ["Balancer", "haproxy"]

KIT = Path(__file__).resolve().parents[2] / "deploy" / "haproxy" / "haproxy.cfg"


def haproxy() -> str:
    """The haproxy binary; skipped without it outside CI (scripts/setup.sh --test installs it)."""
    path = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )
    if path is None:
        reason = "haproxy is not installed (scripts/setup.sh --test installs Debian's)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def _replace(text: str, pattern: str, new: str) -> str:
    out, n = re.subn(pattern, new, text, flags=re.MULTILINE)
    assert n == 1, f"the kit's haproxy.cfg changed: {pattern!r} not found once"
    return out


def local_config(kit: str, port: int, stats_port: int, servers: list[int]) -> str:
    text = _replace(kit, r"^resolvers docker\n(?:[ \t]+.*\n)+", "")
    text = _replace(text, r"^    bind :8080$", f"    bind 127.0.0.1:{port}")
    text = _replace(text, r"^    bind :8404$", f"    bind 127.0.0.1:{stats_port}")
    text = _replace(
        text,
        r"^    default-server .*$",
        "    default-server check inter 1s fastinter 500ms downinter 500ms fall 2 rise 2",
    )
    lines = "\n".join(f"    server gw{i} 127.0.0.1:{p}" for i, p in enumerate(servers))
    return _replace(text, r"^    server-template .*$", lines)


class Balancer:
    def __init__(self, workdir: Path, servers: list[int]) -> None:
        self.port = free_port()
        self.stats_port = free_port()
        self.names = [f"gw{i}" for i in range(len(servers))]
        self.config_path = workdir / "haproxy.cfg"
        self.config_path.write_text(
            local_config(KIT.read_text(), self.port, self.stats_port, servers)
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Balancer:
        binary = haproxy()
        check = subprocess.run(
            [binary, "-c", "-f", str(self.config_path)], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
        self.log_path = self.config_path.with_suffix(".log")  # its access log, for a failure
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [binary, "-db", "-f", str(self.config_path)], stdout=log, stderr=log
            )
        wait_until(self._listening, timeout=20, what="haproxy listening")
        return self

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"haproxy exited ({self.proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def status(self) -> dict[str, str]:
        """Each server's state as haproxy sees it: UP, DOWN, …"""
        r = httpx.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=10)
        rows = csv.DictReader(io.StringIO(r.text.lstrip("# ")))
        return {
            row["svname"]: row["status"]
            for row in rows
            if row["pxname"] == "gateways" and row["svname"] in self.names
        }

    def wait_status(self, name: str, state: str, timeout: float = 60) -> None:
        wait_until(
            lambda: self.status().get(name, "").startswith(state),
            timeout=timeout,
            what=f"haproxy seeing {name} {state}",
        )

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
