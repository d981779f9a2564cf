"""The shared-state seam: windows, counters and leased reservations (SPEC R7.5, R7.11).

Admission is one call, `admit`, that checks every limit of one request and, only if all have
room, counts it and reserves its estimate — atomically (no await in between in one process,
one Lua script per hash tag with Redis):

- `Window`: a rolling request count in buckets (key 5h/1d/7d, RPM, per-IP RPM); blocking when
  the count has reached the limit. The TPM window is checked the same way but is fed tokens at
  settlement, not requests.
- concurrency: requests of a key in flight, freed at settlement or release.
- `Hold`: a money counter of *used* nano-USD with an optional limit: the check is
  `used + in_flight + amount <= limit`. A prepaid balance is the counter holding the negated
  balance with limit 0, so `balance - in_flight - estimate >= 0` is the same check.

Every reservation is a lease: `renew` pushes the deadlines of a process's live reservations in
one batched call; a reservation whose lease lapsed is released by the next admission of the
same user (its caps never shrink for good). Settlement swaps the reservation for the actual
cost (charged even when the lease lapsed); release drops it; each happens once per admission
id. Counter names are opaque here; `access/limits.py` builds them, all of one user sharing the
hash tag `{u:<user id>}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "AdmitRequest",
    "Hold",
    "StateBackend",
    "StateUnavailable",
    "StreamAppend",
    "Verdict",
    "Window",
    "WindowState",
]


class StateUnavailable(Exception):
    """The shared state cannot be reached (or came back empty): admission fails closed (E20)."""


@dataclass(frozen=True, slots=True)
class Window:
    """A rolling window of `buckets` buckets of `bucket_s` seconds."""

    name: str  # the `x-torouter-limit` label: key_5h, key_1d, key_7d, key_rpm, key_tpm, ip
    counter: str
    limit: int
    bucket_s: int
    buckets: int = 60


@dataclass(frozen=True, slots=True)
class Hold:
    """A money counter; `limit` None tracks without blocking."""

    counter: str
    limit: int | None
    label: str = ""  # key, sub_day…, key_budget_day…, balance: mapped to errors by the ledger
    reset_at: float = 0.0  # calendar windows: when the period ends (unix seconds); else 0

    def ttl_s(self, now: float) -> int:
        """Calendar windows: how long from `now` the counter is worth keeping (the rest of
        its period and a day, as `calendar.Period.ttl_s`); 0 for the others, kept for good.
        Computed at use, so one hold serves a key all day (`access/limits.py`)."""
        return int(self.reset_at - now) + 86_400 if self.reset_at else 0


@dataclass(frozen=True, slots=True)
class AdmitRequest:
    admission_id: str
    scope: str  # the user id: every counter below but `ip` shares its hash tag
    marker: str  # a counter that exists once the scope is seeded (the balance)
    now: float
    amount: int
    lease_s: float
    windows: tuple[Window, ...] = ()  # request windows of the user: counted +1
    tokens: Window | None = None  # TPM: checked, fed at settlement
    concurrency: tuple[str, int] | None = None  # (counter, limit)
    ip: Window | None = None  # per client IP: its own hash tag
    holds: tuple[Hold, ...] = ()


@dataclass(frozen=True, slots=True)
class WindowState:
    name: str
    limit: int
    used: int  # including this request
    reset_s: float  # until the oldest counted bucket leaves the window


@dataclass(slots=True)
class Verdict:
    """What `admit` decided. `ok` False: `blocked` names windows or holds, nothing was counted."""

    ok: bool
    blocked: list[str] = field(default_factory=list)  # window names, or hold counters
    retry_after: float = 0.0  # rate refusals: until every blocking window has room
    windows: list[WindowState] = field(default_factory=list)  # for the rate-limit headers
    tokens: WindowState | None = None
    rate: bool = False  # True: a step-10 refusal (E14); False with blocked: a money one


@dataclass(slots=True)
class StreamAppend:
    """A record to add to a Redis stream in the same round trip as a settlement or release.

    Scaled out, a settled usage row goes to the shared journal's stream (R11.2) in the very
    pipeline that charges it, so the row is in the stream as soon as the charge is in Redis: a
    node killed once settlement has returned never leaves a row only on its own disk. The entry
    is pending under `consumer` in `group` from the moment it exists; `acks` are entry ids of
    rows committed since, acknowledged and deleted in the same call. A backend without streams
    (the in-process one) leaves `entry_id` None, and the caller publishes the row itself.
    """

    stream: str
    group: str
    consumer: str
    payload: bytes  # the row, serialized
    acks: list[bytes] = field(default_factory=list)
    entry_id: bytes | None = None  # set by the backend once the record is in the stream


class StateBackend(Protocol):
    async def admit(self, req: AdmitRequest) -> Verdict:
        """Check every window and hold; count and reserve only if all have room.

        Raises `StateUnavailable` when the scope is not seeded or the backend is unreachable.
        """

    async def settle(
        self,
        admission_id: str,
        scope: str,
        counters: Sequence[Hold],
        actual: int,
        *,
        now: float,
        tokens: tuple[Window, int] | None = None,
        append: StreamAppend | None = None,
    ) -> bool:
        """Swap the reservation for `actual` (charged to `counters` even if the lease lapsed);
        False if this admission was already settled or released. `append` goes to its stream
        in the same round trip (its `entry_id` set), or is left untouched."""

    async def release(
        self, admission_id: str, scope: str, *, now: float, append: StreamAppend | None = None
    ) -> bool:
        """Drop the reservation without charge; False if it was already gone. `append`: as for
        `settle`."""

    async def renew(self, leases: Sequence[tuple[str, str]], *, now: float, lease_s: float) -> None:
        """Push the lease of every (scope, admission id) to `now + lease_s`, in one batched
        call; also drops counters of calendar periods that are over."""

    async def seed(self, counter: str, used: int, ttl_s: int = 0) -> None:
        """Set a counter's committed value unless it is known already."""

    async def seed_many(self, items: Sequence[tuple[str, int, int]]) -> None:
        """`seed` for many (counter, used, ttl_s) at once (one round trip per 1,000)."""

    async def add(self, counter: str, amount: int) -> None:
        """Change a known counter's committed value (top-ups, adjustments)."""

    async def used(self, counter: str) -> tuple[int, int]:
        """(committed, in flight) of a counter."""

    async def window_use(self, windows: Sequence[Window], now: float) -> list[WindowState]:
        """Current use of rolling windows (self-service views); counts nothing."""

    async def note_failed_lookup(self, ip: str, now: float) -> int:
        """Count a failed key lookup of a client IP; return the count this minute (R18.3)."""

    async def is_seeded(self, marker: str) -> bool:
        """Whether the marker counter exists (Redis came back empty: False)."""

    async def ping(self) -> bool:
        """Whether the backend answers now (readiness, R17.3); never raises."""

    async def close(self) -> None: ...
