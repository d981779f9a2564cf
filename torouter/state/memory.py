"""In-process state backend (embedded default, one worker).

Atomicity comes from the event loop: no method awaits between its check and its update, so the
check-and-reserve of `admit` is one indivisible step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torouter.state import windows as w
from torouter.state.base import (
    AdmitRequest,
    Hold,
    StateUnavailable,
    StreamAppend,
    Verdict,
    Window,
    WindowState,
)
from torouter.state.tombstones import DONE, LAPSED, Tombstones

__all__ = ["MemoryState"]

TOMBSTONE_S = 3600.0  # how long a settled or lapsed admission id is remembered
# …but at most this many: memory stays bounded under any load (a second settlement of the
# same admission only ever comes from the request itself, within seconds).
TOMBSTONE_MAX = 10_000


@dataclass(slots=True)
class _Res:
    """A live reservation: what its settlement or lapse gives back."""

    scope: str
    counters: tuple[str, ...]
    amount: int
    concurrency: str | None


class MemoryState:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._used: dict[str, int] = {}
        self._flight: dict[str, int] = {}
        self._expiry: dict[str, float] = {}  # calendar counters: dropped after
        self._windows: dict[str, dict[int, int]] = {}
        self._conc: dict[str, int] = {}
        # Live reservations only (admission id → its holds): small, in flight.
        self._res: dict[str, _Res] = {}
        # …and their leases (scope → admission id → lease deadline).
        self._leases: dict[str, dict[str, float]] = {}
        # Settled or lapsed admission ids, kept without an object per id (`tombstones.py`).
        self._tombs = Tombstones(TOMBSTONE_MAX, TOMBSTONE_S)
        self._failures: dict[tuple[str, int], int] = {}

    # -- admission -----------------------------------------------------------------------------

    async def admit(self, req: AdmitRequest) -> Verdict:
        if req.marker not in self._used:
            raise StateUnavailable("counters not seeded")
        now = req.now
        self._purge(req.scope, now)
        v = Verdict(ok=False)
        blocked: list[tuple[str, float]] = []
        for win in (*req.windows, *((req.ip,) if req.ip else ())):
            _, wait = self._window_check(win, now)
            if wait is not None:
                blocked.append((win.name, wait))
        if req.tokens is not None:
            _, wait = self._window_check(req.tokens, now)
            if wait is not None:
                blocked.append((req.tokens.name, wait))
        if req.concurrency is not None:
            name, limit = req.concurrency
            if self._conc.get(name, 0) >= limit:
                blocked.append(("key_concurrency", 1.0))
        if blocked:
            v.rate = True
            v.blocked = [b[0] for b in blocked]
            v.retry_after = max(b[1] for b in blocked)
            return v
        used_, flight = self._used, self._flight
        for h in req.holds:
            if h.limit is not None and (
                used_.get(h.counter, 0) + flight.get(h.counter, 0) + req.amount > h.limit
            ):
                v.blocked.append(h.counter)
        if v.blocked:
            return v
        # Every limit has room: count and reserve, no await in between.
        for win in (*req.windows, *((req.ip,) if req.ip else ())):
            buckets = self._windows.setdefault(win.counter, {})
            cur = w.bucket_index(now, win.bucket_s)
            buckets[cur] = buckets.get(cur, 0) + 1
            total = sum(buckets.values())
            v.windows.append(
                WindowState(
                    win.name,
                    win.limit,
                    total,
                    w.reset_after(buckets, win.buckets, win.bucket_s, now),
                )
            )
        if req.tokens is not None:
            t = req.tokens
            buckets = self._windows.get(t.counter, {})
            v.tokens = WindowState(
                t.name,
                t.limit,
                sum(buckets.values()),
                w.reset_after(buckets, t.buckets, t.bucket_s, now),
            )
        conc = None
        if req.concurrency is not None:
            conc = req.concurrency[0]
            self._conc[conc] = self._conc.get(conc, 0) + 1
        expiry = self._expiry
        for h in req.holds:
            flight[h.counter] = flight.get(h.counter, 0) + req.amount
            if h.reset_at and h.counter not in expiry:  # a calendar counter's expiry, set once
                expiry[h.counter] = now + h.ttl_s(now)
        self._res[req.admission_id] = _Res(
            req.scope, tuple([h.counter for h in req.holds]), req.amount, conc
        )
        self._leases.setdefault(req.scope, {})[req.admission_id] = now + req.lease_s
        v.ok = True
        return v

    def _window_check(self, win: Window, now: float) -> tuple[int, float | None]:
        buckets = self._windows.get(win.counter)
        if not buckets:
            return 0, None
        cur = w.bucket_index(now, win.bucket_s)
        total = w.prune(buckets, cur, win.buckets)
        if total < win.limit:
            return total, None
        return total, w.room_after(buckets, total, win.limit, win.buckets, win.bucket_s, now)

    def _purge(self, scope: str, now: float) -> None:
        """Release reservations whose lease lapsed; forget old tombstones. O(in flight)."""
        leases = self._leases.get(scope)
        if leases:
            for aid, deadline in list(leases.items()):
                if deadline > now:
                    continue
                del leases[aid]
                res = self._res.pop(aid, None)
                if res is not None:
                    self._drop_flight(res)
                    self._tombs.put(aid, LAPSED, now)
        self._tombs.purge(now)

    def _drop_flight(self, res: _Res) -> None:
        for c in res.counters:
            self._flight[c] = self._flight.get(c, 0) - res.amount
        if res.concurrency is not None:
            self._conc[res.concurrency] = max(self._conc.get(res.concurrency, 0) - 1, 0)

    # -- settlement ----------------------------------------------------------------------------

    async def settle(
        self,
        admission_id: str,
        scope: str,
        counters: Sequence[Hold],
        actual: int,
        *,
        now: float,
        tokens: tuple[Window, int] | None = None,
        append: StreamAppend | None = None,  # no streams in process: the caller publishes
    ) -> bool:
        res = self._res.pop(admission_id, None)
        if res is not None:
            self._drop_flight(res)
        elif self._tombs.get(admission_id, now) == DONE:
            return False
        used, expiry = self._used, self._expiry
        for h in counters:
            used[h.counter] = used.get(h.counter, 0) + actual
            if h.reset_at and h.counter not in expiry:  # a calendar counter's expiry, set once
                expiry[h.counter] = now + h.ttl_s(now)
        if tokens is not None and tokens[1] > 0:
            win, n = tokens
            buckets = self._windows.setdefault(win.counter, {})
            cur = w.bucket_index(now, win.bucket_s)
            w.prune(buckets, cur, win.buckets)
            buckets[cur] = buckets.get(cur, 0) + n
        self._tombstone(admission_id, scope, now)
        return True

    async def release(
        self, admission_id: str, scope: str, *, now: float, append: StreamAppend | None = None
    ) -> bool:
        res = self._res.pop(admission_id, None)
        if res is not None:
            self._drop_flight(res)
        elif self._tombs.get(admission_id, now) != LAPSED:
            return False  # unknown, or settled already
        self._tombstone(admission_id, scope, now)
        return res is not None

    def _tombstone(self, admission_id: str, scope: str, now: float) -> None:
        """Settled or released: forget its lease, remember it as done (bounded by age and count)."""
        live = self._leases.get(scope)
        if live is not None:
            live.pop(admission_id, None)
        self._tombs.put(admission_id, DONE, now)

    async def renew(self, leases: Sequence[tuple[str, str]], *, now: float, lease_s: float) -> None:
        deadline = now + lease_s
        for scope, aid in leases:
            mine = self._leases.get(scope)
            if mine is not None and aid in mine and aid in self._res:
                mine[aid] = max(mine[aid], deadline)
        for counter, until in list(self._expiry.items()):
            if until <= now:
                del self._expiry[counter]
                self._used.pop(counter, None)
                if not self._flight.get(counter):
                    self._flight.pop(counter, None)
        minute = int(now // 60)
        for k in [k for k in self._failures if k[1] < minute]:
            del self._failures[k]

    # -- counters ------------------------------------------------------------------------------

    async def seed(self, counter: str, used: int, ttl_s: int = 0) -> None:
        if counter not in self._used:
            self._used[counter] = used
            if ttl_s:
                self._expiry.setdefault(counter, self._clock() + ttl_s)

    async def seed_many(self, items: Sequence[tuple[str, int, int]]) -> None:
        for counter, used, ttl in items:
            await self.seed(counter, used, ttl)

    async def add(self, counter: str, amount: int) -> None:
        if counter in self._used:
            self._used[counter] += amount

    async def used(self, counter: str) -> tuple[int, int]:
        return self._used.get(counter, 0), self._flight.get(counter, 0)

    async def window_use(self, windows: Sequence[Window], now: float) -> list[WindowState]:
        out = []
        for win in windows:
            buckets = self._windows.get(win.counter, {})
            total = w.prune(buckets, w.bucket_index(now, win.bucket_s), win.buckets)
            reset = w.reset_after(buckets, win.buckets, win.bucket_s, now)
            out.append(WindowState(win.name, win.limit, total, reset))
        return out

    async def note_failed_lookup(self, ip: str, now: float) -> int:
        slot = (ip, int(now // 60))
        self._failures[slot] = n = self._failures.get(slot, 0) + 1
        return n

    async def is_seeded(self, marker: str) -> bool:
        return marker in self._used

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None
