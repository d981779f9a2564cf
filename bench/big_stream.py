"""R20.2: relaying one 100 MB stream raises the gateway's peak RSS by at most 20 MB.

Starts the mock and the gateway as `bench/run.py` does (the embedded default, a fresh data
folder), warms the gateway with a few ordinary requests, reads its peak RSS (`VmHWM`), then
asks for one OpenAI chat stream of `--mb` megabytes (the mock's `repeat` directive: 1 KB
content chunks sent over and over) and reads it on a raw socket, discarding every read, so
the client holds nothing. Afterwards it reads `VmHWM` again: the growth is the relay's cost.

    .venv/bin/python bench/big_stream.py [--mb 100] [--commit REV] [--keep]

Prints one JSON line (bytes relayed, seconds, peak RSS before and after, the growth, the
verdict against 20 MB) and exits 1 on FAIL or when the stream is short. Not run by CI.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.procs import sample  # noqa: E402
from bench.stack import KEY, MODEL, gateway_server, mock_server, pick_source  # noqa: E402

LIMIT_MB = 20.0  # R20.2
_PIECE_TOKENS = 250  # ~1 KB of text per content chunk
_CHUNKS = 100  # one plan of ~100 KB, repeated


def request(host: str, port: int, text: str) -> bytes:
    body = json.dumps(
        {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": text}]}
    ).encode()
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def stream_through(base_url: str, text: str, timeout: float = 600) -> tuple[int, bytes, bytes]:
    """Send one request, read the answer to its end; (bytes read, its head, its tail)."""
    host, port = base_url.rsplit("//", 1)[1].split(":")
    total = 0
    head = tail = b""
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request(host, int(port), text))
        while True:
            data = sock.recv(1 << 16)
            if not data:
                break
            if len(head) < 512:
                head += data[:512]
            tail = (tail + data)[-256:]
            total += len(data)
    return total, head, tail


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mb", type=float, default=100.0, help="size of the stream (default 100)")
    p.add_argument("--commit", help="measure REV's torouter/, not the work tree")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.add_argument("--gateway-cpu", default="0")
    p.add_argument("--mock-cpu", default="1")
    a = p.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="torouter-bigstream-"))
    source, _ = pick_source(a.commit, folder / "src")
    mock = mock_server(folder, a.mock_cpu, source).start()
    gateway = gateway_server(folder, mock.base_url, a.gateway_cpu, source).start()
    try:
        for _ in range(20):  # warm: the pools, the codecs, the first usage rows
            stream_through(gateway.base_url, "warm [[mock:chunks=20]]")
        time.sleep(1)  # the first usage batch is written (flush interval 0.2 s)
        before = sample(gateway.pid).peak_rss_kb / 1024
        plan_bytes = _CHUNKS * _PIECE_TOKENS * 4 + _CHUNKS * 230  # text + each chunk's JSON
        repeat = max(1, round(a.mb * 1e6 / plan_bytes))
        directive = (
            f"big [[mock:tokens={_CHUNKS * _PIECE_TOKENS},chunks={_CHUNKS},repeat={repeat}]]"
        )
        started = time.perf_counter()
        total, head, tail = stream_through(gateway.base_url, directive)
        seconds = time.perf_counter() - started
        after = sample(gateway.pid).peak_rss_kb / 1024
    finally:
        gateway.stop()
        mock.stop()
        if not a.keep:
            shutil.rmtree(folder, ignore_errors=True)
    growth = after - before
    whole = head.startswith(b"HTTP/1.1 200") and b"data: [DONE]\n\n" in tail  # then chunked's end
    ok = whole and total >= a.mb * 1e6 * 0.9 and growth <= LIMIT_MB
    print(
        json.dumps(
            {
                "bytes": total,
                "mb": round(total / 1e6, 1),
                "seconds": round(seconds, 2),
                "mb_per_s": round(total / 1e6 / seconds, 1),
                "peak_rss_before_mb": round(before, 1),
                "peak_rss_after_mb": round(after, 1),
                "growth_mb": round(growth, 1),
                "limit_mb": LIMIT_MB,
                "complete": whole,
                "verdict": "PASS" if ok else "FAIL",
                "folder": str(folder) if a.keep else None,
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
