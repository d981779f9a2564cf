"""Fixed log-spaced latency buckets for the roll-ups (SPEC R11.3, R15.4). Pure functions.

A roll-up cannot keep every latency, and percentiles do not add up across rows; bucket counts
do. Each distribution is 24 counters: bucket 0 holds [0, 10 ms), bucket k (1..22) holds
[10·r^(k-1), 10·r^k) ms with r = 2^(2/3) (three buckets per two doublings), bucket 23 holds
≥ 10·r^22 ≈ 258 s. Summing the counters of any set of roll-up rows gives the distribution of
all their requests; a quantile is read from the cumulative counts and interpolated
geometrically inside its bucket, so the error is at most half a bucket (about ±12 %) and far
less for smooth distributions. The bounds are part of the stored data: never change them
without a migration that re-buckets.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

__all__ = ["BUCKETS", "EDGES_MS", "bucket_of", "latency_columns", "quantile", "ttft_columns"]

BUCKETS = 24
_BASE_MS = 10.0
_RATIO = 2.0 ** (2.0 / 3.0)
# EDGES_MS[k] is the lower bound of bucket k + 1 (and the upper bound of bucket k).
EDGES_MS: tuple[float, ...] = tuple(_BASE_MS * _RATIO**k for k in range(BUCKETS - 1))


def latency_columns() -> list[str]:
    return [f"latency_b{i:02d}" for i in range(BUCKETS)]


def ttft_columns() -> list[str]:
    return [f"ttft_b{i:02d}" for i in range(BUCKETS)]


def bucket_of(ms: float) -> int:
    """The bucket a duration in milliseconds falls in (negative values count as 0)."""
    return bisect.bisect_right(EDGES_MS, ms)


def quantile(counts: Sequence[int], q: float) -> int | None:
    """The q-quantile (0 < q < 1) in whole milliseconds, None when nothing was counted.

    The rank q·n is found in the cumulative counts; inside its bucket the value is placed
    geometrically (linearly in bucket 0, which starts at 0). The open last bucket answers its
    lower bound: "at least that long".
    """
    if len(counts) != BUCKETS:
        raise ValueError(f"expected {BUCKETS} counts, got {len(counts)}")
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for k, n in enumerate(counts):
        if n <= 0:
            continue
        if seen + n >= rank:
            within = min(max((rank - seen) / n, 0.0), 1.0)
            if k == 0:
                return round(EDGES_MS[0] * within)
            low = EDGES_MS[k - 1]
            if k == BUCKETS - 1:
                return round(low)
            return round(low * math.exp(math.log(_RATIO) * within))
        seen += n
    return round(EDGES_MS[-1])  # unreachable: the last bucket with counts reaches the rank
