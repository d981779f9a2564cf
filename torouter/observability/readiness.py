"""`/readyz` (R17.3): does every store the node depends on answer right now?

Each probe asks the database and, when configured, Redis; a store that fails or does not
answer within `timeout_s` makes the answer 503, and the next probe after it recovers is 200
again (nothing is latched). Probes arriving together share one round of checks, so a burst of
them costs one ping per store, not one per probe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

__all__ = ["Check", "Readiness"]

log = logging.getLogger("torouter.readiness")

Check = Callable[[], Awaitable[bool]]


class Readiness:
    def __init__(self, checks: Mapping[str, Check], *, timeout_s: float = 2.0) -> None:
        self._checks = dict(checks)
        self._timeout_s = timeout_s
        self._round: asyncio.Future[list[str]] | None = None

    async def failing(self) -> list[str]:
        """The names of the stores that do not answer (empty: ready)."""
        if self._round is None:
            self._round = asyncio.ensure_future(self._check_all())
            self._round.add_done_callback(self._round_over)
        # A probe that goes away must not cancel the round the others wait for.
        return await asyncio.shield(self._round)

    def _round_over(self, done: asyncio.Future[list[str]]) -> None:
        if self._round is done:
            self._round = None

    async def _check_all(self) -> list[str]:
        names = list(self._checks)
        answers = await asyncio.gather(*(self._answers(self._checks[n]) for n in names))
        return [name for name, ok in zip(names, answers, strict=True) if not ok]

    async def _answers(self, check: Check) -> bool:
        try:
            return await asyncio.wait_for(check(), self._timeout_s)
        except TimeoutError:
            return False
        except Exception:  # a probe answers 503, never 500; the cause goes to the log
            log.exception("readiness check failed")
            return False
