"""Waiting for a condition that has no event to await (a task count in another thread, a lock
that PostgreSQL frees once it notices a killed session): check, back off, fail at a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["eventually"]

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T | None] | T | None], *, within: float, what: str
) -> T:
    """Await `check()` until it returns a truthy value; back-off 1 ms → 50 ms."""
    deadline = time.monotonic() + within
    delay = 0.001
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
