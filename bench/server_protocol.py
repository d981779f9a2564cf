"""What the request-head limits of `torouter/server/protocol.py` cost per request (issue 12 item 1).

The full benchmark (`bench/run.py`) measures the gateway whole, where a difference of a few
microseconds per request drowns in the run-to-run noise of a shared machine. This one isolates
the layer that changed: the same keep-alive connection is fed the benchmark's own request (the
230-byte chat body with wrk's headers, one read per request, as on the wire) through uvicorn's
stock `HttpToolsProtocol` and through `BoundedHttpToolsProtocol`, each answering from a minimal
ASGI app, in alternating rounds on one uvloop loop; the fastest round of each is kept (the one
least disturbed by other processes). Reported: µs per request for both and the difference, and
the difference as a share of the gateway's whole CPU time per request when `--gateway-ms` is
given (from `bench/run.py`'s "CPU ms per non-stream request").

    .venv/bin/python bench/server_protocol.py [--requests 20000] [--rounds 7] [--gateway-ms 0.33]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
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
from torouter.server.protocol import HttpLimits, protocol_factory

ANSWER = b'{"ok":true}'


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
        if bytes(data).endswith(ANSWER) and self.done is not None and not self.done.done():
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


def _config() -> Config:
    config = Config(_app, http="httptools", lifespan="off", access_log=False, log_level="error")
    config.load()
    return config


async def _round(make: Callable[..., asyncio.Protocol], data: bytes, n: int) -> float:
    """Seconds per request over `n` requests on one kept-alive connection."""
    loop = asyncio.get_running_loop()
    transport = _Transport()
    proto = make(config=_config(), server_state=ServerState(), app_state={})
    proto.connection_made(transport)
    start = time.perf_counter()
    for _ in range(n):
        transport.done = loop.create_future()
        proto.data_received(data)
        await transport.done
    elapsed = time.perf_counter() - start
    proto.connection_lost(None)
    return elapsed / n


async def measure(requests: int, rounds: int) -> dict[str, float]:
    data = request_bytes()
    bounded = protocol_factory(HttpLimits())
    best = {"stock": float("inf"), "bounded": float("inf")}
    await _round(HttpToolsProtocol, data, 1000)  # warm-up: imports, caches, the allocator
    for _ in range(rounds):
        best["stock"] = min(best["stock"], await _round(HttpToolsProtocol, data, requests))
        best["bounded"] = min(best["bounded"], await _round(bounded, data, requests))
    return {k: v * 1e6 for k, v in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--gateway-ms", type=float, default=None)
    args = parser.parse_args()
    us = uvloop.run(measure(args.requests, args.rounds))
    diff = us["bounded"] - us["stock"]
    print(f"stock HttpToolsProtocol    {us['stock']:7.2f} µs/request")
    print(f"BoundedHttpToolsProtocol   {us['bounded']:7.2f} µs/request")
    print(f"difference                 {diff:+7.2f} µs/request")
    if args.gateway_ms:
        share = diff / (args.gateway_ms * 1000) * 100
        print(f"share of the gateway's {args.gateway_ms} ms/request: {share:+.2f} %")


if __name__ == "__main__":
    main()
