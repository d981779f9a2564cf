"""Brute-force limits of the account flows (R12.1, R12.3), behind a small interface.

    Limiter (Protocol)
     └── MemoryLimiter   one process (the embedded default); a Redis backend implements the
                         same four calls for many workers

A limit is a sliding window: at most `limit` events in any `window_s` seconds. Account locks
are a separate `block`, so a lock lasts its full time even after the failures that caused it
leave the window. Keys are plain strings chosen by the caller (`login:acct:<email>`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

from torouter.accounts.clock import Clock

__all__ = [
    "LOCK_S",
    "LOGIN_ACCOUNT",
    "LOGIN_IP",
    "RESEND_COOLDOWN_S",
    "RESET_EMAIL",
    "RESET_IP",
    "SIGNUP_IP",
    "Limiter",
    "MemoryLimiter",
    "Rule",
]


@dataclass(frozen=True, slots=True)
class Rule:
    limit: int
    window_s: float


LOGIN_ACCOUNT = Rule(5, 15 * 60)  # failures per email string, then a lock of LOCK_S
LOCK_S = 15 * 60
LOGIN_IP = Rule(30, 15 * 60)  # failures per client IP → E14
RESET_EMAIL = Rule(5, 3600)  # reset requests; beyond: the same 202, no mail
RESET_IP = Rule(20, 3600)
SIGNUP_IP = Rule(10, 3600)  # sign-up attempts → E14
RESEND_COOLDOWN_S = 60  # between verification mails to one account


class Limiter(Protocol):
    async def check(self, key: str, rule: Rule) -> float:
        """Seconds until one more event fits (0: it fits now). Records nothing."""

    async def hit(self, key: str, rule: Rule) -> float:
        """Record one event when it fits and return 0, else the seconds to wait."""

    async def block(self, key: str, seconds: float) -> None:
        """Refuse `key` for `seconds` (see `blocked`)."""

    async def blocked(self, key: str) -> float:
        """Seconds left on a block of `key`; 0 when there is none."""

    async def reset(self, key: str) -> None:
        """Forget the events and any block of `key`."""


class MemoryLimiter:
    """In-process windows: a deque of at most `limit` event times per key."""

    SWEEP_EVERY = 1024

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._events: dict[str, tuple[float, deque[float]]] = {}  # key → (window, times)
        self._blocks: dict[str, float] = {}  # key → unblock time
        self._hits = 0

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _times(self, key: str, rule: Rule, now: float) -> deque[float]:
        entry = self._events.get(key)
        if entry is None:
            return deque()
        times = entry[1]
        while times and times[0] <= now - rule.window_s:
            times.popleft()
        return times

    async def check(self, key: str, rule: Rule) -> float:
        now = self._now()
        times = self._times(key, rule, now)
        if len(times) < rule.limit:
            return 0.0
        return max(times[-rule.limit] + rule.window_s - now, 0.001)

    async def hit(self, key: str, rule: Rule) -> float:
        wait = await self.check(key, rule)
        if wait:
            return wait
        now = self._now()
        times = self._times(key, rule, now)
        times.append(now)
        self._events[key] = (rule.window_s, times)
        self._hits += 1
        if self._hits % self.SWEEP_EVERY == 0:
            self._sweep(now)
        return 0.0

    async def block(self, key: str, seconds: float) -> None:
        self._blocks[key] = self._now() + seconds

    async def blocked(self, key: str) -> float:
        until = self._blocks.get(key)
        if until is None:
            return 0.0
        left = until - self._now()
        if left <= 0:
            del self._blocks[key]
            return 0.0
        return left

    async def reset(self, key: str) -> None:
        self._events.pop(key, None)
        self._blocks.pop(key, None)

    def _sweep(self, now: float) -> None:
        """Drop keys whose events all left their window and expired blocks: memory stays
        proportional to recent activity, however many distinct emails are tried."""
        stale = [k for k, (w, t) in self._events.items() if not t or t[-1] <= now - w]
        for key in stale:
            del self._events[key]
        for key in [k for k, until in self._blocks.items() if until <= now]:
            del self._blocks[key]
