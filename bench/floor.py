"""The floor: the least a Python gateway can do per request, as a benchmark target (issue 20).

A raw-ASGI pass-through on the same stack as the gateway (uvicorn with httptools and uvloop, one
pooled aiohttp client, orjson): it checks the key against a dict, forwards the body to the one
upstream, relays the answer (a stream chunk by chunk) and captures the usage the answer reports,
counting tokens per key in memory. No routing, pricing, limits, storage or logging. Measured in
the same run as the gateway, its rate is the yardstick the gateway's goals are stated against
(`report.py`): a figure that means the same on any machine.

    python bench/floor.py --port 8101 --upstream http://127.0.0.1:8100/v1 --key sk-… \
        --auth "Bearer mock-key"    (bench/run.py starts it itself)

`--engine` picks the HTTP server (bench/engines.py compares them): uvicorn (the default, the
gateway's), granian's ASGI interface on the same app, or granian's RSGI interface through the
small adapter `FloorRSGI` (the same work on granian's native calls).
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from typing import Any

import aiohttp
import orjson
import uvicorn

_JSON = [(b"content-type", b"application/json")]
_SSE = [(b"content-type", b"text/event-stream")]


class Floor:
    def __init__(self, upstream: str, keys: set[str], auth: str) -> None:
        self.upstream, self.keys, self.auth = upstream, keys, auth
        self.tokens: Counter[str] = Counter()  # the usage capture: tokens per key
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                connector = aiohttp.TCPConnector(limit=0)  # like the gateway: no pool cap
                self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
                await send({"type": "lifespan.startup.complete"})
            if self.session is not None:
                await self.session.close()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["path"] == "/healthz":  # readiness, for the launcher
            await _answer(send, 200, b"{}")
            return
        key = dict(scope["headers"]).get(b"authorization", b"")[7:].decode()
        if key not in self.keys:
            await _answer(send, 401, b'{"error":"bad key"}')
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        assert self.session is not None
        url = self.upstream + scope["path"].removeprefix("/v1")
        headers = {"authorization": self.auth, "content-type": "application/json"}
        async with self.session.post(url, data=body, headers=headers) as resp:
            if resp.content_type != "text/event-stream":
                raw = await resp.read()
                await _answer(send, resp.status, raw)
                self._count(key, orjson.loads(raw).get("usage"))
                return
            await send({"type": "http.response.start", "status": resp.status, "headers": _SSE})
            async for chunk in resp.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if b'"usage":{' in chunk:  # the usage chunk: one data line of JSON
                    for line in chunk.split(b"\n"):
                        if line.startswith(b"data: {") and b'"usage":{' in line:
                            self._count(key, orjson.loads(line[6:]).get("usage"))
            await send({"type": "http.response.body", "body": b""})

    def _count(self, key: str, usage: dict[str, Any] | None) -> None:
        if usage:
            self.tokens[key] += usage.get("total_tokens", 0)


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _JSON})
    await send({"type": "http.response.body", "body": body})


class FloorRSGI(Floor):
    """The same floor on granian's RSGI interface: request and answer through granian's own
    calls (`await proto()`, `response_bytes`, `response_stream`) instead of ASGI messages."""

    def __rsgi_init__(self, loop: Any) -> None:
        async def start() -> None:
            connector = aiohttp.TCPConnector(limit=0)
            self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False)

        loop.run_until_complete(start())

    def __rsgi_del__(self, loop: Any) -> None:
        if self.session is not None:
            loop.run_until_complete(self.session.close())

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.path == "/healthz":
            proto.response_bytes(200, _JSON_STR, b"{}")
            return
        key = scope.headers.get("authorization", "")[7:]
        if key not in self.keys:
            proto.response_bytes(401, _JSON_STR, b'{"error":"bad key"}')
            return
        body = await proto()
        assert self.session is not None
        url = self.upstream + scope.path.removeprefix("/v1")
        headers = {"authorization": self.auth, "content-type": "application/json"}
        async with self.session.post(url, data=body, headers=headers) as resp:
            if resp.content_type != "text/event-stream":
                raw = await resp.read()
                proto.response_bytes(resp.status, _JSON_STR, raw)
                self._count(key, orjson.loads(raw).get("usage"))
                return
            transport = proto.response_stream(resp.status, _SSE_STR)
            async for chunk in resp.content.iter_any():
                await transport.send_bytes(chunk)
                if b'"usage":{' in chunk:
                    for line in chunk.split(b"\n"):
                        if line.startswith(b"data: {") and b'"usage":{' in line:
                            self._count(key, orjson.loads(line[6:]).get("usage"))


_JSON_STR = [("content-type", "application/json")]
_SSE_STR = [("content-type", "text/event-stream")]


def from_environment() -> Floor:
    """granian's factory (its workers import the app by name): the arguments come as FLOOR_*."""
    cls = FloorRSGI if os.environ.get("FLOOR_INTERFACE") == "rsgi" else Floor
    env = os.environ
    return cls(env["FLOOR_UPSTREAM"], {env["FLOOR_KEY"]}, env["FLOOR_AUTH"])


def _run_granian(port: int, interface: str) -> None:
    from pathlib import Path

    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    Granian(
        "bench.floor:from_environment",
        factory=True,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.RSGI if interface == "rsgi" else Interfaces.ASGI,
        workers=1,
        loop=Loops.uvloop,
        websockets=False,
        log_access=False,
        log_level=LogLevels.warning,
        working_dir=Path(__file__).resolve().parents[1],  # where `bench.floor` imports from
    ).serve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--auth", required=True)
    parser.add_argument(
        "--engine", choices=("uvicorn", "granian-asgi", "granian-rsgi"), default="uvicorn"
    )
    args = parser.parse_args()
    if args.engine != "uvicorn":
        interface = args.engine.removeprefix("granian-")
        os.environ.update(
            FLOOR_UPSTREAM=args.upstream,
            FLOOR_KEY=args.key,
            FLOOR_AUTH=args.auth,
            FLOOR_INTERFACE=interface,
        )
        _run_granian(args.port, interface)
        return
    app = Floor(args.upstream, {args.key}, args.auth)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        http="httptools",
        loop="uvloop",
        lifespan="on",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
