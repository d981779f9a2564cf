"""``torouter.mock.server.run``: the standalone process behind ``torouter mock-provider``."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            pause.wait(0.02)  # poll the socket until the server listens


def test_run_serves_with_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "mock.toml"
    config.write_text('keys = ["sk-run-ok"]\nchunks = 5\n')
    port = _free_port()
    code = f"from torouter.mock.server import run; run('127.0.0.1', {port}, {str(config)!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
    try:
        _wait_for_port(port, proc)
        base = f"http://127.0.0.1:{port}"
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}
        ok = httpx.post(
            f"{base}/v1/chat/completions", json=body, headers={"authorization": "Bearer sk-run-ok"}
        )
        assert ok.status_code == 200 and ok.content.count(b'"content":"') == 6  # role chunk + 5
        denied = httpx.post(
            f"{base}/v1/chat/completions", json=body, headers={"authorization": "Bearer no"}
        )
        assert denied.status_code == 401
        cut = {**body, "messages": [{"role": "user", "content": "x [[mock:disconnect_after=2]]"}]}
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(
                f"{base}/v1/chat/completions",
                json=cut,
                headers={"authorization": "Bearer sk-run-ok"},
            )
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    assert b"without completing" not in stderr, "dropped responses are intentional, not errors"
