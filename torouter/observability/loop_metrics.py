"""Lock-free counters, gauge and histogram for the gateway's per-request metrics (SPEC R17.2).

prometheus_client makes every `inc()` and `observe()` thread-safe: a lock, a validity check and,
for a histogram, a Python loop over the buckets — about 18 µs for the ten updates each gateway
request makes. The gateway updates them from its event loop only, so plain integers and floats
do: an update here is one attribute add (a histogram, one `bisect` more). A scrape reads them
through the collector interface, and the exposition is the one prometheus_client writes for its
own `Counter` / `Gauge` / `Histogram` of the same names, `_created` series included
(`tests/observability/test_loop_metrics.py` diffs the two).

Updates must come from one thread (the loop's); a scrape from another thread reads values that
are at worst one update old, never torn (each is a single Python object).
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

__all__ = ["LoopCounter", "LoopGauge", "LoopHistogram"]


def _with_created() -> bool:
    """prometheus_client's own switch for the `_created` series (its environment variable)."""
    flag = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower()
    return flag not in ("true", "1", "t")


class _CounterChild:
    """One label set of a counter: its value and when it appeared."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value: float = 0
        self.created = time.time()

    def inc(self, amount: float = 1) -> None:
        self.value += amount


class LoopCounter:
    """A labelled counter: `labels(*values).inc(n)`; each label set's child is remembered."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry
    ) -> None:
        self._name = name
        self._doc = documentation
        self._labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], _CounterChild] = {}
        registry.register(self)

    def add(self, values: tuple[str, ...], amount: float = 1) -> None:
        """`labels(*values).inc(amount)` in one call (the gateway's per-request updates)."""
        child = self._children.get(values)
        if child is None:
            child = self.labels(*values)
        child.value += amount

    def labels(self, *values: str) -> _CounterChild:
        child = self._children.get(values)
        if child is None:
            if len(values) != len(self._labelnames):
                raise ValueError(f"{self._name}: labels {self._labelnames}, got {values}")
            child = self._children[values] = _CounterChild()
        return child

    def describe(self) -> Iterable[Metric]:
        yield Metric(self._name, self._doc, "counter")

    def collect(self) -> Iterable[Metric]:
        family = Metric(self._name, self._doc, "counter")
        created = _with_created()
        for values, child in list(self._children.items()):
            labels = dict(zip(self._labelnames, values, strict=True))
            family.add_sample(self._name + "_total", labels, child.value)
            if created:
                family.add_sample(self._name + "_created", labels, child.created)
        yield family


class LoopGauge:
    """An unlabelled gauge moved by `inc()` / `dec()` (requests in flight)."""

    __slots__ = ("_doc", "_name", "value")

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self._name = name
        self._doc = documentation
        self.value: float = 0
        registry.register(self)

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def dec(self, amount: float = 1) -> None:
        self.value -= amount

    def describe(self) -> Iterable[Metric]:
        yield Metric(self._name, self._doc, "gauge")

    def collect(self) -> Iterable[Metric]:
        family = Metric(self._name, self._doc, "gauge")
        family.add_sample(self._name, {}, self.value)
        yield family


class LoopHistogram:
    """An unlabelled histogram: per-bucket counts (not cumulative until a scrape) and a sum."""

    __slots__ = ("_bounds", "_counts", "_created", "_doc", "_les", "_name", "_sum")

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        bounds = [float(b) for b in buckets]
        if bounds != sorted(bounds):
            raise ValueError(f"{name}: buckets not in increasing order")
        self._name = name
        self._doc = documentation
        self._bounds = bounds
        # The `le` label of each bucket, +Inf last, spelled as prometheus_client spells them.
        self._les = [
            floatToGoString(b)  # type: ignore[no-untyped-call]  # unannotated in the library
            for b in (*bounds, float("inf"))
        ]
        # A value belongs to the first bucket whose bound is >= it (prometheus' `le`); the last
        # slot is +Inf.
        self._counts = [0] * (len(bounds) + 1)
        self._sum = 0.0
        self._created = time.time()
        registry.register(self)

    def observe(self, amount: float) -> None:
        self._counts[bisect_left(self._bounds, amount)] += 1
        self._sum += amount

    def describe(self) -> Iterable[Metric]:
        yield Metric(self._name, self._doc, "histogram")

    def collect(self) -> Iterable[Metric]:
        family = Metric(self._name, self._doc, "histogram")
        counts = list(self._counts)  # one consistent copy for the cumulative series
        total = 0
        bucket = self._name + "_bucket"
        for le, n in zip(self._les, counts, strict=True):
            total += n
            family.add_sample(bucket, {"le": le}, total)
        family.add_sample(self._name + "_count", {}, total)
        family.add_sample(self._name + "_sum", {}, self._sum)
        if _with_created():
            family.add_sample(self._name + "_created", {}, self._created)
        yield family
