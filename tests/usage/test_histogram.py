"""Latency buckets of the roll-ups (R11.3): bounds, quantiles from merged counters."""

from __future__ import annotations

import itertools
import random

import pytest

from torouter.storage import tables as t
from torouter.usage.histogram import BUCKETS, EDGES_MS, bucket_of, quantile


def test_bucket_count_matches_the_schema() -> None:
    assert BUCKETS == t.ROLLUP_BUCKETS == 24
    names = [c.name for c in t.usage_daily.columns if c.name.startswith("latency_b")]
    assert names == [f"latency_b{i:02d}" for i in range(24)]


@pytest.mark.parametrize(
    ("ms", "bucket"),
    [
        (-5, 0),
        (0, 0),
        (9, 0),
        (10, 1),
        (15, 1),
        (16, 2),
        (1000, 10),
        (1016, 11),
        (257_999, 22),
        (10**9, 23),
    ],
)
def test_bucket_of(ms: int, bucket: int) -> None:
    assert bucket_of(ms) == bucket


def test_edges_are_log_spaced() -> None:
    assert EDGES_MS[0] == 10
    ratios = {round(b / a, 9) for a, b in itertools.pairwise(EDGES_MS)}
    assert ratios == {round(2 ** (2 / 3), 9)}


def test_empty_has_no_quantile() -> None:
    assert quantile([0] * BUCKETS, 0.5) is None
    with pytest.raises(ValueError):
        quantile([1, 2], 0.5)


@pytest.mark.parametrize("seed", range(5))
def test_quantiles_of_a_spread_are_within_half_a_bucket(seed: int) -> None:
    rng = random.Random(seed)
    values = sorted(int(rng.lognormvariate(7, 0.8)) for _ in range(20_000))  # ~1 s median
    counts = [0] * BUCKETS
    for v in values:
        counts[bucket_of(v)] += 1
    for q in (0.5, 0.95):
        exact = values[int(q * len(values))]
        estimate = quantile(counts, q)
        assert estimate is not None
        assert abs(estimate - exact) / exact < 0.13, (q, estimate, exact)


def test_one_value_and_the_open_last_bucket() -> None:
    counts = [0] * BUCKETS
    counts[bucket_of(1000)] = 1
    assert EDGES_MS[9] <= quantile(counts, 0.5) <= EDGES_MS[10]  # type: ignore[operator]
    counts = [0] * BUCKETS
    counts[23] = 3
    assert quantile(counts, 0.95) == round(EDGES_MS[-1])  # "at least 258 s"
    counts = [0] * BUCKETS
    counts[0] = 2
    assert quantile(counts, 0.5) == 5
