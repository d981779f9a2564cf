"""Start a real gateway process (uvicorn on a free port) from a TOML config, and talk to it.

Readiness and log assertions await lines of the process's JSON log, never a fixed time.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

__all__ = ["GatewayProcess", "free_port", "wait_until"]

REPO = Path(__file__).resolve().parents[2]
TOROUTER = [sys.executable, "-m", "torouter.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `check` until it returns a truthy value (back-off up to 50 ms) or fail."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


class GatewayProcess:
    def __init__(
        self,
        workdir: Path,
        config: str,
        *,
        env: dict[str, str] | None = None,
        launcher: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        # A command the CLI runs under (e.g. tests/deploy's systemd sandbox).
        self.launcher = list(launcher)
        self.port = free_port()
        self.config_path = workdir / "torouter.toml"
        self.config_text = config.replace("{port}", str(self.port)).replace("{dir}", str(workdir))
        self.config_path.write_text(self.config_text)
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.lines: list[dict[str, Any]] = []
        self.stderr = b""
        self._cond = threading.Condition()
        self._readers: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.launcher, *TOROUTER, *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    def start(self, timeout: float = 90.0) -> GatewayProcess:
        self.lines = []
        self.stderr = b""
        self.proc = subprocess.Popen(
            [
                *self.launcher,
                *TOROUTER,
                "serve",
                "--config",
                str(self.config_path),
                "--port",
                str(self.port),
            ],
            env=self.env,
            cwd=self.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        # `serve` binds its socket first; "ready" comes after the start-up, socket listening.
        self.wait_log(
            lambda r: r.get("msg") == "ready",
            timeout=timeout,
            what="listening",
        )
        return self

    def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                rec = orjson.loads(raw)
            except orjson.JSONDecodeError:
                rec = {"msg": "<non-json>", "raw": raw.decode("utf-8", "replace")}
            with self._cond:
                self.lines.append(rec)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            with self._cond:
                self.stderr += raw
                self._cond.notify_all()

    def wait_log(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = 10.0, what: str = "log"
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for rec in self.lines[seen:]:
                    if pred(rec):
                        return rec
                seen = len(self.lines)
                if (
                    self.proc is not None
                    and self.proc.poll() is not None
                    and seen == len(self.lines)
                ):
                    raise AssertionError(
                        f"gateway exited ({self.proc.returncode}) before {what}: "
                        f"{self.stderr.decode(errors='replace')[-2000:]}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}")
                self._cond.wait(min(left, 0.5))

    def wait_stderr(self, needle: bytes, timeout: float = 10.0) -> None:
        """Wait until `needle` shows on stderr.

        stdout and stderr are two pipes read by two threads: a line printed to stderr before
        "ready" went to stdout may still be unread when `start()` returns.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while needle not in self.stderr:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {needle!r} on stderr")
                self._cond.wait(min(left, 0.5))

    def access_line(self, request_id: str, timeout: float = 10.0) -> dict[str, Any]:
        return self.wait_log(
            lambda r: r.get("msg") == "request" and r.get("request_id") == request_id,
            timeout=timeout,
            what=f"access line {request_id}",
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        # Everything the process wrote is read before the caller looks at `lines` or `stderr`
        # (a child still holding the pipes gets a bounded wait, not a hang).
        for reader in self._readers:
            reader.join(10)
        return rc

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kw)


class MockProcess:
    """`torouter mock-provider` in its own process, with a mock config file."""

    def __init__(self, workdir: Path, config: str = "") -> None:
        self.port = free_port()
        self.config_path = workdir / f"mock-{self.port}.toml"
        self.config_path.write_text(config)
        self.proc = subprocess.Popen(
            [
                *TOROUTER,
                "mock-provider",
                "--port",
                str(self.port),
                "--config",
                str(self.config_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_until(self._listening, timeout=20, what="mock provider listening")

    def _listening(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"mock exited: {self.proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
