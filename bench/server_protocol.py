"""What the HTTP server protocol costs per request: uvicorn's stock one, ours with R18.5's limits
added (`torouter/server/protocol.py`, issue 12 item 1) and the native one
(`torouter/server/native.py`, issue 20 point 1).

The full benchmark (`bench/run.py`) measures the gateway whole, where a difference of a few
microseconds per request drowns in the run-to-run noise of a shared machine. This one isolates
the layer that changed: the same keep-alive connection is fed the benchmark's own request (the
230-byte chat body with wrk's headers, one read per request, as on the wire) through uvicorn's
stock `HttpToolsProtocol`, `BoundedHttpToolsProtocol` and `NativeHttpProtocol`, each answering
from a minimal ASGI app (`--answer plain`: a JSON body with its length; `stream`: 20 chunked
events and the end), in alternating rounds on one uvloop loop; the fastest round of each is kept
(the one least disturbed by other processes). Reported: µs per request for each and the
difference to stock, and the difference as a share of the gateway's whole CPU time per request
when `--gateway-ms` is given (from `bench/run.py`'s "CPU ms per non-stream request").

    .venv/bin/python bench/server_protocol.py [--requests 20000] [--rounds 7] [--gateway-ms 0.33]

`--instructions` counts instead, under `valgrind --tool=callgrind`, load-independent: each
protocol runs `--requests` and 3 × `--requests` requests in two processes, and the difference
over the 2 × `--requests` extra ones is its instructions per request.

    .venv/bin/python bench/server_protocol.py --instructions [--requests 1000] [--answer stream]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: the package needs the repository on the path
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from bench.payloads import chat_body
from bench.stack import KEY, MODEL
from torouter.server.limits import HttpLimits
from torouter.server.native import native_factory
from torouter.server.protocol import protocol_factory

ANSWER = b'{"ok":true}'
EVENT = b'data: {"choices":[{"delta":{"content":"hello"}}]}\n\n'
END = b"data: [DONE]\n\n"
PROTOCOLS: dict[str, Callable[..., Any]] = {
    "stock": HttpToolsProtocol,
    "bounded": protocol_factory(HttpLimits()),
    "native": native_factory(HttpLimits()),
}


def request_bytes() -> bytes:
    """The request wrk sends in the benchmark: its default headers plus ours, and the body."""
    body = chat_body(MODEL, stream=False)
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\n"
        "Host: 127.0.0.1:8080\r\n"
        "Content-Type: application/json\r\n"
        f"authorization: Bearer {KEY}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class _Transport(asyncio.Transport):
    """Collects what the protocol writes; `done` resolves when a whole answer went out."""

    def __init__(self) -> None:
        super().__init__()
        self.done: asyncio.Future[None] | None = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if bytes(data).endswith((ANSWER, b"0\r\n\r\n")) and self.done and not self.done.done():
            self.done.set_result(None)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        pass


async def _stream_app(
    scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
) -> None:
    """As the gateway relays a stream: the head, 20 events one by one, the end."""
    await receive()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
        }
    )
    for _ in range(20):
        await send({"type": "http.response.body", "body": EVENT, "more_body": True})
    await send({"type": "http.response.body", "body": END, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _app(
    scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
) -> None:
    await receive()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(ANSWER)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": ANSWER})


_APPS = {"plain": _app, "stream": _stream_app}


def _config(answer: str = "plain") -> Config:
    config = Config(
        _APPS[answer],
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="error",
        proxy_headers=False,  # as `serve` runs
    )
    config.load()
    return config


async def _round(
    make: Callable[..., asyncio.Protocol], data: bytes, n: int, answer: str = "plain"
) -> float:
    """Seconds per request over `n` requests on one kept-alive connection."""
    loop = asyncio.get_running_loop()
    transport = _Transport()
    proto = make(config=_config(answer), server_state=ServerState(), app_state={})
    proto.connection_made(transport)
    start = time.perf_counter()
    for _ in range(n):
        transport.done = loop.create_future()
        proto.data_received(data)
        await transport.done
    elapsed = time.perf_counter() - start
    proto.connection_lost(None)
    return elapsed / n


async def measure(requests: int, rounds: int, answer: str) -> dict[str, float]:
    data = request_bytes()
    best = dict.fromkeys(PROTOCOLS, float("inf"))
    for make in PROTOCOLS.values():  # warm-up: imports, caches, the allocator
        await _round(make, data, 1000, answer)
    for _ in range(rounds):
        for name, make in PROTOCOLS.items():
            best[name] = min(best[name], await _round(make, data, requests, answer))
    return {k: v * 1e6 for k, v in best.items()}


def _one(which: str, requests: int, answer: str) -> None:
    """Run under callgrind: a warm-up, then `requests` counted requests."""
    make = PROTOCOLS[which]

    async def run() -> None:
        await _round(make, request_bytes(), 200, answer)
        await _round(make, request_bytes(), requests, answer)

    uvloop.run(run())


def _callgrind(which: str, requests: int, answer: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        subprocess.run(
            [
                *("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"),
                *(sys.executable, __file__, "--one", which, "--requests", str(requests)),
                *("--answer", answer),
            ],
            check=True,
            capture_output=True,
        )
        text = open(out).read()
    found = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
    assert found, "no totals in callgrind's output"
    return int(found.group(1))


def instructions(requests: int, answer: str) -> dict[str, float]:
    """Instructions per request of each protocol: the difference of two callgrind runs."""
    return {
        name: (_callgrind(name, 3 * requests, answer) - _callgrind(name, requests, answer))
        / (2 * requests)
        for name in PROTOCOLS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--gateway-ms", type=float, default=None)
    parser.add_argument("--answer", choices=sorted(_APPS), default="plain")
    parser.add_argument("--instructions", action="store_true", help="count under callgrind")
    parser.add_argument("--one", choices=sorted(PROTOCOLS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _one(args.one, args.requests, args.answer)
        return
    if args.instructions:
        counts = instructions(args.requests, args.answer)
        for name, count in counts.items():
            change = count - counts["stock"]
            print(f"{name:8} {count:10,.0f} instructions/request ({change:+,.0f} vs stock)")
        return
    us = uvloop.run(measure(args.requests, args.rounds, args.answer))
    for name, value in us.items():
        diff = value - us["stock"]
        line = f"{name:8} {value:7.2f} µs/request ({diff:+.2f} vs stock)"
        if args.gateway_ms:
            line += f", {diff / (args.gateway_ms * 1000) * 100:+.2f} % of the gateway's request"
        print(line)


if __name__ == "__main__":
    main()
