"""A one-connection client that times every request exactly: ``python -m bench.serial``.

wrk 4 "corrects" its latency histogram for coordinated omission: after a run it adds, for every
response slower than the mean interval between requests, synthetic samples as if requests had
kept arriving at that interval during the stall. With one connection a single 10 ms pause of
the server then counts as ~17 slow samples, and a few pauses move wrk's p99 by milliseconds
(and its mean above what the request count allows). This client reports the raw distribution
of what a serial caller sees: one keep-alive connection, the request bytes built once,
``perf_counter_ns`` around each round trip, garbage collection off, nothing corrected.
Its own cost per request (tens of µs, the same for every target) cancels out of "added".
"""

from __future__ import annotations

import argparse
import gc
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import orjson

__all__ = ["percentiles", "run_serial"]

_PCTS = (50, 75, 90, 99, 99.9)


def _request(url: str, body: bytes, auth: str | None) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = [
        f"POST {parts.path or '/'} HTTP/1.1",
        f"host: {host}:{port}",
        "content-type: application/json",
        f"content-length: {len(body)}",
    ]
    if auth:
        head.append(f"authorization: {auth}")
    return host, port, ("\r\n".join(head) + "\r\n\r\n").encode() + body


class _Conn:
    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed by the server")
        self.buf += data

    def _skip_chunks(self) -> None:
        while True:
            while b"\r\n" not in self.buf:
                self._fill()
            line, _, self.buf = self.buf.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            while len(self.buf) < size + 2:
                self._fill()
            self.buf = self.buf[size + 2 :]
            if size == 0:
                return

    def response(self) -> int:
        """Read one whole response (Content-Length or chunked); return its status."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(b":") for ln in lines)}
        if b"content-length" in fields:
            size = int(fields[b"content-length"])
            while len(self.buf) < size:
                self._fill()
            self.buf = self.buf[size:]
        elif fields.get(b"transfer-encoding", b"").lower() == b"chunked":
            self._skip_chunks()
        return status


def percentiles(samples_ns: Sequence[int]) -> dict[str, float]:
    """min, mean, max and the usual percentiles in µs (nearest rank, no interpolation)."""
    if not samples_ns:
        return {}
    ordered = sorted(samples_ns)
    n = len(ordered)
    out = {"min": ordered[0] / 1e3, "mean": sum(ordered) / n / 1e3, "max": ordered[-1] / 1e3}
    for p in _PCTS:
        rank = min(n - 1, max(0, int(-(-p * n // 100)) - 1))
        out[f"p{p:g}"] = ordered[rank] / 1e3
    return out


def run_serial(url: str, body: bytes, auth: str | None, seconds: float) -> dict[str, object]:
    host, port, request = _request(url, body, auth)
    conn = _Conn(host, port)
    samples: list[int] = []
    bad = 0
    gc.disable()
    try:
        start = time.perf_counter_ns()
        deadline = start + int(seconds * 1e9)
        now = start
        while now < deadline:
            conn.sock.sendall(request)
            status = conn.response()
            end = time.perf_counter_ns()
            samples.append(end - now)
            bad += not 200 <= status < 300
            now = end
    finally:
        gc.enable()
        conn.sock.close()
    elapsed = (now - start) / 1e9
    return {
        "requests": len(samples),
        "duration_s": round(elapsed, 3),
        "rate": round(len(samples) / elapsed, 1) if elapsed else 0.0,
        "non_2xx": bad,
        "latency_us": {k: round(v, 1) for k, v in percentiles(samples).items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.serial", description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("body", type=Path)
    p.add_argument("--auth", default="")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=0.0)
    args = p.parse_args(argv)
    body = args.body.read_bytes()
    if args.warmup > 0:
        run_serial(args.url, body, args.auth or None, args.warmup)
    result = run_serial(args.url, body, args.auth or None, args.seconds)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
