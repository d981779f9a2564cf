"""What the three mock providers share: the fault gate, replay, and the error interface."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from torouter.mock import replay
from torouter.mock.context import Call, wait_disconnect
from torouter.mock.faults import Directives

__all__ = ["Handler", "Provider", "group", "loads_object"]

Handler = Callable[[Call], Awaitable[None]]


def group(
    events: list[tuple[bytes, bool]], d: Directives, error: Sequence[bytes] = ()
) -> list[list[bytes]]:
    """Group stream events into sends: a new send starts at each paced (content) event after the
    first one; other events ride with their neighbours. ``malformed`` breaks the middle paced
    event in two, leaving invalid JSON; ``error_after`` keeps that many events, then ``error``."""
    if d.error_after is not None and error:
        events = [*events[: d.error_after], *((e, False) for e in error)]
    if d.malformed:
        paced = [i for i, (_, is_paced) in enumerate(events) if is_paced] or [len(events) // 2]
        at = paced[len(paced) // 2]
        data, is_paced = events[at]
        broken = data[: max(8, len(data) // 2)].rstrip(b"\r\n") + (
            b"\r\n\r\n" if data.endswith(b"\r\n\r\n") else b"\n\n"
        )
        events = [*events[:at], (broken, is_paced), *events[at + 1 :]]
    frames: list[list[bytes]] = [[]]
    started = False
    for data, is_paced in events:
        if is_paced:
            if started:
                frames.append([])
            started = True
        frames[-1].append(data)
    return frames


def loads_object(body: bytes) -> dict[str, Any] | None:
    """The JSON object in ``body``, or None when it is not one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


class Provider:
    """Base of the providers: subclasses render errors in their envelope and map operations."""

    name = ""
    handlers: dict[str, Handler]

    async def error(
        self, call: Call, status: int, message: str, kind: str | None = None, **extra: Any
    ) -> None:
        """An error in the provider's envelope; ``kind`` overrides the default type for status."""
        raise NotImplementedError

    async def auth_failure(self, call: Call, reason: str) -> None:
        """``reason``: ``missing``, ``invalid`` or ``nocredit``."""
        raise NotImplementedError

    async def fault(self, call: Call, status: int, d: Directives) -> None:
        """The provider's answer for a status fault (429 with its reset headers, 529, …)."""
        raise NotImplementedError

    async def not_found(self, call: Call) -> None:
        await self.error(call, 404, "Not found")

    async def gate(self, call: Call, d: Directives) -> bool:
        """Apply replay, ``slow_first_byte``, ``timeout`` and status faults; True when answered."""
        if d.replay is not None:
            await self.replay(call, d)
            return True
        if d.slow_first_byte_ms and not await call.pause(d.slow_first_byte_ms):
            return True
        if d.timeout:
            await wait_disconnect(call.receive)
            return True
        if d.status is not None and d.status >= 400:
            await self.fault(call, d.status, d)
            return True
        return False

    async def replay(self, call: Call, d: Directives) -> None:
        assert d.replay is not None
        try:
            root = str(replay.folder(call.config.replay_dir))
            status, content_type, pieces = replay.rendered(root, d.replay)
        except replay.ReplayError as exc:
            await self.error(call, 400, f"mock replay of {d.replay!r}: {exc}")
            return
        if content_type.startswith(b"text/event-stream"):
            await call.stream([[p] for p in pieces], content_type, d, status)
        else:
            await call.reply(
                status, pieces[0], content_type, disconnect=d.disconnect_after is not None
            )
