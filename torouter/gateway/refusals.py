"""Keeping refusals cheap: an IP that keeps guessing keys is turned away before the lookup
(SPEC R18.3), and refused requests leave a bounded sample of usage rows (R7.1).

Both are one node's memory, bounded, and need no lock: the failed-lookup count itself lives
in the state backend (shared across nodes with Redis); this module only remembers, per node,
which IPs are blocked until the end of their minute, so a blocked IP costs no state call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from torouter.access.keys import FAILED_LOOKUPS_PER_MINUTE
from torouter.errors import error

__all__ = ["LookupThrottle", "RefusalSampler"]

_MAX_ENTRIES = 10_000  # bounds both maps against a flood of addresses or keys
_ROWS_PER_MINUTE = 10
_UNSAMPLED = frozenset({"INVALID_API_KEY", "API_KEY_REQUIRED"})  # no key: no row to hang on


class LookupThrottle:
    """Failed key lookups per client IP (R18.3): after `FAILED_LOOKUPS_PER_MINUTE` in a minute,
    the IP gets E14 until that minute ends."""

    def __init__(self, count_failure: Callable[[str], Awaitable[int]]) -> None:
        """`count_failure(ip)` adds one failed lookup and answers this minute's count
        (`Ledger.note_failed_lookup`)."""
        self._count = count_failure
        self._blocked: dict[str, float] = {}  # client IP → refused until (unix seconds)

    def check(self, ip: str | None, now: float) -> None:
        """Raise E14 while `ip` is blocked."""
        until = self._blocked.get(ip or "")
        if until is None:
            return
        if until > now:
            raise error("E14", retry_after=until - now, headers=[("x-torouter-limit", "ip")])
        del self._blocked[ip or ""]

    async def failed(self, ip: str | None, now: float) -> None:
        """Count one failed lookup of `ip`; block it to the end of the minute at the limit."""
        key = ip or ""
        if await self._count(key) >= FAILED_LOOKUPS_PER_MINUTE:
            if len(self._blocked) > _MAX_ENTRIES:
                self._blocked.clear()
            self._blocked[key] = (now // 60 + 1) * 60


class RefusalSampler:
    """Refusals from admission step 3 on are recorded, at most 10 rows per key, code and
    minute (R7.1): enough to explain a client's errors, never a write per flood request."""

    def __init__(self) -> None:
        self._counts: dict[tuple[int, str, int], int] = {}

    def take(self, key_id: int, code: str | None, now: float) -> bool:
        """True when this refusal gets a row."""
        if code in _UNSAMPLED:
            return False
        minute = int(now // 60)
        slot = (key_id, code or "", minute)
        n = self._counts.get(slot, 0)
        if n >= _ROWS_PER_MINUTE:
            return False
        if len(self._counts) > _MAX_ENTRIES:
            self._counts = {k: v for k, v in self._counts.items() if k[2] == minute}
        self._counts[slot] = n + 1
        return True
