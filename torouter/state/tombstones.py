"""Settled and lapsed admission ids, remembered compactly (R10.5 exactly once, R20.1 peak RSS).

The in-process state refuses a second settlement of an admission, so it remembers every
settled or lapsed id for an hour, at most `capacity` of them. At the gateway's rate that cap
is reached within seconds, and kept as strings in a dict each remembered id cost ~200 bytes of
small objects that outlive the request which made them: scattered through the allocator's pools
among that request's short-lived objects, they kept whole pools and arenas resident.

The gateway's ids are one boot prefix and a sequence number (`{boot}-{n}`, `n` counting up by
one per admission, `usage/settlement.py`). Those go in a ring of preallocated arrays indexed by
`n % capacity`: the slot holds `n` itself (so an older or newer id sharing the slot is never
taken for this one: lookups are exact), its state and when it is forgotten. Nothing is
allocated per id. Anything else (another prefix, a non-canonical number, an id older than the
one already in its slot) goes to a small ordered dict with the same age and count bounds, so
the semantics hold for any string.

Bounds: a ring slot is reused when the id `capacity` admissions later is remembered, i.e. the
ring keeps the last `capacity` sequence numbers; a second settlement only ever comes from the
request itself, within seconds.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict

__all__ = ["DONE", "LAPSED", "Tombstones"]

DONE = 1  # settled or released: a second settlement is refused
LAPSED = 2  # its lease lapsed and its hold was dropped: a late settlement still counts

_EMPTY = -1  # a sequence number no id has


class Tombstones:
    """Remembered admission ids and their state (`DONE` / `LAPSED`), bounded by age and count."""

    __slots__ = ("_capacity", "_other", "_prefix", "_seq", "_state", "_ttl_s", "_until")

    def __init__(self, capacity: int, ttl_s: float) -> None:
        self._capacity = capacity
        self._ttl_s = ttl_s
        self._prefix: str | None = None  # the ring's prefix: the first ring-shaped id's
        # Parallel arrays, one slot per `n % capacity` (one allocation each, made here).
        self._seq = array("q", [_EMPTY]) * capacity
        self._until = array("d", [0.0]) * capacity
        self._state = bytearray(capacity)
        # Every other id: oldest first (constant TTL, so expiry order too).
        self._other: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def _ring_seq(self, aid: str, claim: bool) -> int:
        """`n` when `aid` is `{prefix}-{n}` with the ring's prefix and canonical digits; else -1.
        `claim`: the first such id remembered gives the ring its prefix (one boot per process)."""
        prefix, dash, tail = aid.rpartition("-")
        if not dash or len(tail) > 18 or not tail.isascii() or not tail.isdigit():
            return _EMPTY  # 18 digits always fit the int64 array (and int() never refuses)
        if tail[0] == "0" and len(tail) > 1:  # "007" is not "7": the strings differ
            return _EMPTY
        if prefix != self._prefix:
            if self._prefix is not None or not claim:
                return _EMPTY
            self._prefix = prefix
        return int(tail)

    def get(self, aid: str, now: float) -> int | None:
        """`DONE` or `LAPSED` when `aid` is remembered, else None."""
        n = self._ring_seq(aid, False)
        if n != _EMPTY:
            slot = n % self._capacity
            if self._seq[slot] == n and self._until[slot] > now:
                return self._state[slot]
            # Not in its slot: it may have been older than the slot's id when remembered.
        kept = self._other.get(aid)
        if kept is None or kept[1] <= now:
            return None
        return kept[0]

    def put(self, aid: str, state: int, now: float) -> None:
        """Remember `aid` in `state` for the TTL (again from now, if it already was)."""
        until = now + self._ttl_s
        n = self._ring_seq(aid, True)
        if n != _EMPTY:
            slot = n % self._capacity
            held = self._seq[slot]
            # A newer id still remembered keeps its slot; this older one goes to `_other`.
            if held <= n or self._until[slot] <= now:
                self._seq[slot] = n
                self._until[slot] = until
                self._state[slot] = state
                self._other.pop(aid, None)  # moved to the ring (never both)
                return
        other = self._other
        other[aid] = (state, until)
        other.move_to_end(aid)
        while len(other) > self._capacity:
            other.popitem(last=False)

    def purge(self, now: float) -> None:
        """Forget the other ids past their TTL (ring slots expire where they are)."""
        other = self._other
        while other:
            aid, (_, until) = next(iter(other.items()))
            if until > now:
                break
            del other[aid]

    def __len__(self) -> int:
        """How many ids are held (expired ones included until purged or reused)."""
        return sum(1 for n in self._seq if n != _EMPTY) + len(self._other)
