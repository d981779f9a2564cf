"""A channel's last results (routing/recent.py): the deque's behaviour without its objects."""

from __future__ import annotations

import gc
import tracemalloc
from collections import deque

from torouter.routing.recent import RecentResults


def test_the_last_results_oldest_first_like_a_bounded_deque() -> None:
    ring = RecentResults(capacity=5)
    model: deque[tuple[float, bool, int, int | None]] = deque(maxlen=5)
    assert list(ring) == []
    for i in range(13):
        result = (1000.0 + i / 8, i % 3 != 0, i * 7, None if i % 2 else i)
        ring.append(*result)
        model.append(result)
        assert list(ring) == list(model)
        assert len(ring) == len(model)


def test_a_zero_ttft_is_not_none() -> None:
    ring = RecentResults(capacity=2)
    ring.append(1.5, True, 0, 0)
    ring.append(2.5, False, 12, None)
    assert list(ring) == [(1.5, True, 0, 0), (2.5, False, 12, None)]


def test_a_result_allocates_nothing() -> None:
    """Each request's result used to be a tuple and a float kept for 2,000 requests."""
    ring = RecentResults()
    results = [(1_800_000_000.0 + i, True, i % 900, i % 300) for i in range(6000)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for r in results:
            ring.append(*r)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 1000, grown
    assert list(ring) == results[-2000:]
