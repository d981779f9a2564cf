"""A TCP relay in front of Redis that records every round trip, for tests that count them.

A round trip is what one connection sends before Redis answers: the commands redis-py writes
in one pipeline are one round trip, however the kernel splits the bytes. The relay parses the
commands (RESP arrays of bulk strings) and keeps, per round trip, each command's first
arguments, so a test can tell which code sent it (a script by its SHA-1) without touching the
gateway's code.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from tests.e2e.harness import free_port

__all__ = ["Command", "RedisCountingProxy", "RespCommands"]

Command = tuple[bytes, ...]  # the command name (upper case), then its first arguments

_KEEP = 8  # arguments kept per command: enough to name a script call and its counts


class RespCommands:
    """Incremental parser of the commands a client sends (RESP arrays of bulk strings)."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[Command]:
        self._buf += data
        out: list[Command] = []
        while True:
            parsed = self._one()
            if parsed is None:
                return out
            out.append(parsed)

    def _one(self) -> Command | None:
        buf = self._buf
        if not buf.startswith(b"*"):
            if buf:  # inline commands are never sent by redis-py
                raise ValueError(f"not a RESP array: {buf[:20]!r}")
            return None
        end = buf.find(b"\r\n")
        if end < 0:
            return None
        n = int(buf[1:end])
        pos = end + 2
        args: list[bytes] = []
        for _ in range(n):
            end = buf.find(b"\r\n", pos)
            if end < 0:
                return None
            size = int(buf[pos + 1 : end])
            start = end + 2
            if len(buf) < start + size + 2:
                return None
            if len(args) < _KEEP:
                args.append(buf[start : start + size])
            pos = start + size + 2
        self._buf = buf[pos:]
        args[0] = args[0].upper()
        return tuple(args)


class RedisCountingProxy:
    """Relays 127.0.0.1:`port` to Redis at `target`, recording `exchanges`: one list of
    commands per round trip, in order, across every connection."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.exchanges: list[list[Command]] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> RedisCountingProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def take(self) -> list[list[Command]]:
        """The round trips recorded since the last call (a round trip still being sent is
        included with what has arrived of it)."""
        with self._lock:
            out, self.exchanges = self.exchanges, []
        return out

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        parser = RespCommands()
        current: list[list[Command] | None] = [None]  # the round trip being sent

        async def upstream() -> None:
            with contextlib.suppress(OSError):
                while data := await reader.read(65536):
                    commands = parser.feed(data)
                    if current[0] is None:
                        current[0] = []
                        with self._lock:
                            self.exchanges.append(current[0])
                    current[0].extend(commands)
                    up_writer.write(data)
                    await up_writer.drain()
            up_writer.transport.abort()

        async def downstream() -> None:
            with contextlib.suppress(OSError):
                while data := await up_reader.read(65536):
                    current[0] = None  # answered: the next command is another round trip
                    writer.write(data)
                    await writer.drain()
            writer.transport.abort()

        await asyncio.gather(upstream(), downstream())
