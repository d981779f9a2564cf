"""Run the mock providers in a background thread for tests (uvicorn on a free port).

    with MockServer() as mock:
        client = openai.OpenAI(base_url=f"{mock.url}/v1", api_key="sk-test")

The server has its own thread and event loop, so tests may use sync or async clients. The socket
is bound and listening before the thread starts (no port race; early connections wait in the
backlog), and ``start`` returns once uvicorn reports that it serves: no fixed sleeps.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType

import uvicorn

from torouter.mock.app import MockApp
from torouter.mock.config import MockConfig
from torouter.mock.server import quiet_dropped_responses

__all__ = ["MockServer"]


class MockServer:
    def __init__(self, config: MockConfig | None = None, host: str = "127.0.0.1") -> None:
        self.app = MockApp(config)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(256)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                loop="uvloop",
                http="httptools",
                access_log=False,
                log_level="warning",
                lifespan="on",
                timeout_graceful_shutdown=1,
            )
        )
        self._thread = threading.Thread(target=self._run, name="mock-providers", daemon=True)
        self._wake = threading.Event()

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        finally:
            self._wake.set()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self.app.loop is None:
            raise RuntimeError("the mock server is not running")
        return self.app.loop

    def start(self, timeout: float = 15.0) -> MockServer:
        quiet_dropped_responses()
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the mock providers did not start")
            self._wake.wait(0.005)  # poll uvicorn's flag, set from its own loop
        return self

    def task_count(self) -> int:
        """Tasks alive in the server's loop (to check that nothing leaks)."""

        async def count() -> int:
            return len(asyncio.all_tasks())

        return asyncio.run_coroutine_threadsafe(count(), self.loop).result(5)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
