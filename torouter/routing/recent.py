"""A channel's last results for the health view (R9.9), kept in preallocated arrays.

Every answered request adds one result, and the view reads the last `capacity` of them. As a
deque of tuples each result was a tuple and a float (~110 bytes) that outlived its request by
`capacity` requests: long-lived small objects among each request's short-lived ones, which kept
the allocator's pools resident (R20.1 peak RSS). Here a result is four array slots written in
place; nothing is allocated per request.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator

__all__ = ["RecentResults"]

_NO_TTFT = -1  # a result without a time to first token (not a stream, or a failure)


class RecentResults:
    """The last `capacity` (time, ok, latency ms, ttft ms or None) results, oldest first."""

    __slots__ = ("_at", "_capacity", "_latency", "_next", "_ok", "_size", "_ttft")

    def __init__(self, capacity: int = 2000) -> None:
        self._capacity = capacity
        self._at = array("d", [0.0]) * capacity
        self._ok = bytearray(capacity)
        self._latency = array("q", [0]) * capacity
        self._ttft = array("q", [_NO_TTFT]) * capacity
        self._next = 0  # the slot the next result goes to
        self._size = 0

    def append(self, at: float, ok: bool, latency_ms: int, ttft_ms: int | None) -> None:
        i = self._next
        self._at[i] = at
        self._ok[i] = ok
        self._latency[i] = latency_ms
        self._ttft[i] = _NO_TTFT if ttft_ms is None else ttft_ms
        self._next = (i + 1) % self._capacity
        if self._size < self._capacity:
            self._size += 1

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[tuple[float, bool, int, int | None]]:
        start = (self._next - self._size) % self._capacity
        for k in range(self._size):
            i = (start + k) % self._capacity
            ttft = self._ttft[i]
            yield self._at[i], bool(self._ok[i]), self._latency[i], None if ttft < 0 else ttft
