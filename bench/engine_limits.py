"""What each HTTP server engine does with the limits of R18.5 and the client quirks of issue 12.

    .venv/bin/python bench/engine_limits.py [--engine uvicorn|granian ...]

Starts the gateway (the bench's TOML, timeouts cut to 2 s so a probe ends quickly) under
`torouter serve` (uvicorn with our bounded protocol) and under granian's ASGI interface
(`--http1-header-read-timeout 2000`, the closest knob it has), probes each over a raw socket
and prints one line per probe and engine: what came back and how long it took. A probe is a
fact about the engine, not a pass/fail: the verdicts are in bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

import orjson  # noqa: E402

from bench.engines import require_granian  # noqa: E402
from bench.procs import Server, free_port  # noqa: E402
from bench.stack import KEY, MODEL, gateway_config, mock_server  # noqa: E402

LIMITS = """[server]
header_timeout_s = 2
body_timeout_s = 2
idle_timeout_s = 2
"""
WAIT_S = 8.0  # a probe that is still open after this long is reported "open"


def start(engine: str, folder: Path, mock_base: str) -> Server:
    port = free_port()
    config = folder / f"torouter-{engine}.toml"
    config.write_text(gateway_config(folder / f"data-{engine}", mock_base).replace(
        "[demo]", LIMITS + "[demo]", 1
    ))  # fmt: skip
    bin_dir = Path(sys.executable).parent
    if engine == "uvicorn":
        cmd = [str(bin_dir / "torouter"), "serve", "--config", str(config), "--port", str(port)]
        env: dict[str, str] = {}
    else:
        cmd = [str(bin_dir / "granian"), "--interface", "asgi", "--factory", "--port", str(port),
               "--workers", "1", "--loop", "uvloop", "--no-ws", "--log-level", "warning",
               "--http", "1", "--http1-header-read-timeout", "2000",
               *os.environ.get("ENGINE_LIMITS_GRANIAN_ARGS", "").split(),
               "torouter.app:from_environment"]  # fmt: skip
        env = {"TOROUTER_CONFIG": str(config), "TOROUTER_SERVER__PORT": str(port)}
    return Server(
        f"gateway-{engine}",
        cmd,
        cpu=None,
        log=folder / f"gateway-{engine}.log",
        base_url=f"http://127.0.0.1:{port}",
        ready_path="/readyz",
        env=env,
        cwd=folder,
    ).start()


def exchange(port: int, data: bytes, *, then: bytes = b"", pause: float = 0.0) -> str:
    """Send `data` (then, after `pause`, `then`), read until close or WAIT_S; describe it."""
    t0 = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(WAIT_S)
    got = b""
    try:
        try:
            if data:
                sock.sendall(data)
            if then:
                time.sleep(pause)
                sock.sendall(then)
        except (BrokenPipeError, ConnectionResetError):
            pass
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return f"{_statuses(got)} open after {WAIT_S:.0f} s"
            except ConnectionResetError:
                return f"{_statuses(got)} reset after {time.monotonic() - t0:.1f} s"
            if not chunk:
                return f"{_statuses(got)} closed after {time.monotonic() - t0:.1f} s"
            got += chunk
    finally:
        sock.close()


def _statuses(data: bytes) -> str:
    out = [m.decode("latin-1") for m in re.findall(rb"HTTP/1\.[01] \d{3}[^\r]*", data)]
    rid = b"x-request-id" in data.lower()
    return ("; ".join(out) or "no answer") + (" (x-request-id)" if rid else "")


def head(target: str = "/healthz", extra: bytes = b"", version: bytes = b"HTTP/1.1") -> bytes:
    return b"GET " + target.encode() + b" " + version + b"\r\nHost: x\r\n" + extra + b"\r\n"


def fill(total: int) -> bytes:
    lines: list[bytes] = []
    i = 0
    while sum(len(x) + 2 for x in lines) < total:
        lines.append(b"X-Fill-%d: " % i + b"a" * 1000)
        i += 1
    return b"".join(x + b"\r\n" for x in lines)


def many(n: int) -> bytes:
    return b"".join(b"X-H%d: v\r\n" % i for i in range(n))


def chat(stream: bool, text: str = "hi") -> tuple[bytes, bytes]:
    body = orjson.dumps(
        {"model": MODEL, "stream": stream, "messages": [{"role": "user", "content": text}]}
    )
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
    ), body


def disconnect_during_stream(port: int, log: Path) -> str:
    """Read the first event of a 20 × 300 ms stream, close; when does the gateway notice?"""
    h, body = chat(True, "[[mock:chunk_interval_ms=300]] hello")
    rid = f"probe-{time.monotonic_ns()}"
    h = h.replace(b"Host: x\r\n", b"Host: x\r\nX-Request-Id: " + rid.encode() + b"\r\n")
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(h + body)
        sock.recv(65536)
    return _access_line(log, rid, t0)


def disconnect_before_first_byte(port: int, log: Path) -> str:
    """A non-stream request to an upstream that waits 5 s; the client leaves after 0.5 s."""
    h, body = chat(False, "[[mock:slow_first_byte=5000]] hello")
    rid = f"probe-{time.monotonic_ns()}"
    h = h.replace(b"Host: x\r\n", b"Host: x\r\nX-Request-Id: " + rid.encode() + b"\r\n")
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(h + body)
        time.sleep(0.5)
    return _access_line(log, rid, t0)


def _access_line(log: Path, rid: str, t0: float) -> str:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for raw in log.read_bytes().splitlines():
            if rid.encode() in raw and b'"msg":"request"' in raw.replace(b" ", b""):
                rec = orjson.loads(raw)
                seen = time.monotonic() - t0
                return (
                    f"status {rec.get('status')} outcome {rec.get('outcome')} "
                    f"logged within {seen:.1f} s"
                )
        time.sleep(0.1)
    return "no access line within 15 s"


def graceful(server: Server) -> str:
    """SIGTERM while a 20 × 100 ms stream is in flight: is it finished (drained) or cut?"""
    h, body = chat(True, "[[mock:chunk_interval_ms=100]] hello")
    with socket.create_connection(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1]))) as sock:
        sock.settimeout(20)
        sock.sendall(h + body)
        got = sock.recv(65536)
        server.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        t0 = time.monotonic()
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            got += chunk
    done = b"[DONE]" in got
    code = server.proc.wait(30)  # type: ignore[union-attr]
    return (
        f"stream {'finished' if done else 'cut'} {time.monotonic() - t0:.1f} s after "
        f"SIGTERM; exit code {code}"
    )


def probes(port: int) -> list[tuple[str, Callable[[], str]]]:
    h, body = chat(False)
    return [
        ("head 60 KiB", lambda: exchange(port, head(extra=fill(60 * 1024)))),
        ("head 65 KiB", lambda: exchange(port, head(extra=fill(65 * 1024)))),
        ("head 1 MiB", lambda: exchange(port, head(extra=fill(1024 * 1024)))),
        ("100 headers", lambda: exchange(port, head(extra=many(99)))),
        ("101 headers", lambda: exchange(port, head(extra=many(100)))),
        ("1000 headers", lambda: exchange(port, head(extra=many(1000)))),
        ("request line 70 KiB", lambda: exchange(port, head("/healthz?" + "a" * 70 * 1024))),
        ("malformed header", lambda: exchange(port, b"GET /healthz HTTP/1.1\r\nBad\r\n\r\n")),
        ("never sends a byte", lambda: exchange(port, b"")),
        ("stalled head", lambda: exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")),
        ("stalled body", lambda: exchange(port, h + body[:10])),
        ("kept-alive idle", lambda: exchange(port, head())),
        ("pipelined x2", lambda: exchange(port, head() + head(extra=b"Connection: close\r\n"))),
        ("HTTP/1.0", lambda: exchange(port, head(version=b"HTTP/1.0"))),
        (
            "Expect: 100-continue",
            lambda: exchange(
                port,
                h.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"),
                then=body,
                pause=1.0,
            ),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", action="append", choices=("uvicorn", "granian"))
    args = parser.parse_args()
    require_granian()
    folder = Path(tempfile.mkdtemp(prefix="engine-limits-"))
    mock = mock_server(folder, None).start()
    try:
        for engine in args.engine or ["uvicorn", "granian"]:
            server = start(engine, folder, mock.base_url)
            port = int(server.base_url.rsplit(":", 1)[1])
            try:
                for name, probe in probes(port):
                    print(f"{engine:8} {name:22} {probe()}", flush=True)
                for name, fn in (
                    ("disconnect in stream", disconnect_during_stream),
                    ("disconnect before 1st", disconnect_before_first_byte),
                ):
                    print(f"{engine:8} {name:22} {fn(port, server.log)}", flush=True)
                print(f"{engine:8} {'SIGTERM mid-stream':22} {graceful(server)}", flush=True)
            finally:
                server.stop()
    finally:
        mock.stop()
    print(f"logs in {folder}")


if __name__ == "__main__":
    main()
