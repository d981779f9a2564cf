"""Do the stores answer right now? The database and, when configured, Redis, each timed.

Each check is bounded by `timeout_s` and never raises: an error is a failed check with its
class name, so the operations page renders whatever is down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

__all__ = ["StoreCheck", "check_stores"]

Check = Callable[[], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class StoreCheck:
    name: str  # database | redis
    ok: bool
    latency_ms: float | None
    detail: str


async def _one(name: str, check: Check, timeout_s: float) -> StoreCheck:
    started = time.perf_counter()
    try:
        ok = await asyncio.wait_for(check(), timeout_s)
        detail = "" if ok else "no answer"
    except TimeoutError:
        ok, detail = False, f"no answer within {timeout_s:g} s"
    except Exception as exc:  # a store that is down must not take the page with it
        ok, detail = False, type(exc).__name__
    return StoreCheck(name, ok, round((time.perf_counter() - started) * 1000, 2), detail)


async def check_stores(checks: Mapping[str, Check], timeout_s: float = 2.0) -> list[StoreCheck]:
    return list(await asyncio.gather(*(_one(n, c, timeout_s) for n, c in checks.items())))
