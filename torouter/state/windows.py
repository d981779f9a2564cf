"""Rolling windows in buckets (SPEC R7.5): the arithmetic both backends share. Pure.

A window of `n` buckets of `b` seconds holds counts by bucket index `floor(t / b)`; at time
`now` the buckets `cur - n + 1 … cur` are live. `state/lua.py` repeats these rules in Lua.
"""

from __future__ import annotations

import math

__all__ = ["bucket_index", "prune", "reset_after", "room_after"]


def bucket_index(now: float, bucket_s: int) -> int:
    return math.floor(now / bucket_s)


def prune(buckets: dict[int, int], cur: int, n: int) -> int:
    """Drop dead buckets in place; return the live total."""
    total = 0
    for idx in list(buckets):
        if idx <= cur - n:
            del buckets[idx]
        else:
            total += buckets[idx]
    return total


def room_after(
    buckets: dict[int, int], total: int, limit: int, n: int, bucket_s: int, now: float
) -> float:
    """Seconds until the live total drops below `limit` (0 if it already is)."""
    need = total - limit + 1
    if need <= 0:
        return 0.0
    acc = 0
    for idx in sorted(buckets):
        acc += buckets[idx]
        if acc >= need:
            return max((idx + n) * bucket_s - now, 0.0)
    return float(n * bucket_s)


def reset_after(buckets: dict[int, int], n: int, bucket_s: int, now: float) -> float:
    """Seconds until the oldest counted bucket leaves the window (0 when empty)."""
    live = [i for i, c in buckets.items() if c]
    if not live:
        return 0.0
    return max((min(live) + n) * bucket_s - now, 0.0)
