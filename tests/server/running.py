"""A real uvicorn server with uvloop and one of the protocols `serve` can run, in a thread."""

from __future__ import annotations

import socket
import threading
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import uvicorn

from tests.e2e.harness import free_port, wait_until
from torouter.server.limits import HttpLimits
from torouter.server.native import native_factory
from torouter.server.protocol import protocol_factory

__all__ = ["BOUND_S", "PROTOCOLS", "Running", "run_server"]

# Generous: a loaded machine makes timers late, never early.
BOUND_S = 20.0
PROTOCOLS = {"native": native_factory, "uvicorn": protocol_factory}


@dataclass
class Running:
    port: int
    app: Any
    server: uvicorn.Server
    kind: str  # the protocol: a key of PROTOCOLS

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=BOUND_S)
        sock.settimeout(BOUND_S)
        return sock


def run_server(
    limits: HttpLimits, kind: str, app: Any, **options: Any
) -> Generator[Running, None, None]:
    """Serve `app` with protocol `kind` until the generator is closed; `options` go to
    uvicorn's `Config` (e.g. `timeout_keep_alive`)."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http=PROTOCOLS[kind](limits),
        lifespan="off",
        log_config=None,
        access_log=False,
        ws="none",
        **options,
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_until(lambda: srv.started, timeout=30, what="uvicorn started")
    try:
        yield Running(port, app, srv, kind)
    finally:
        srv.should_exit = True
        thread.join(30)
