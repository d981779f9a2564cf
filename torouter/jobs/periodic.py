"""Run a background job every N seconds in its own task: failures are logged, not fatal, and
`stop` cancels and waits. (Jobs hold their own run-once-at-a-time lock; see `state/lock.py`.)"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

__all__ = ["every", "stop"]


def every(
    interval_s: float, job: Callable[[], Awaitable[object]], *, name: str, log: logging.Logger
) -> asyncio.Task[None]:
    async def loop() -> None:
        while True:
            try:
                await job()
            except Exception:
                log.exception("%s failed", name)
            await asyncio.sleep(interval_s)

    return asyncio.create_task(loop(), name=name)


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
