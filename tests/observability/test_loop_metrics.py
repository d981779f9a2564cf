"""The lock-free per-request metrics expose exactly what prometheus_client's own would (R17.2)."""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from torouter.observability.loop_metrics import LoopCounter, LoopGauge, LoopHistogram
from torouter.observability.metrics import Metrics

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 1, 2.5, 60)
# Values on, between, below and above the bounds: `le` is inclusive, the last bucket is +Inf.
_VALUES = (0.0, 0.0004, 0.0005, 0.00051, 0.001, 0.003, 1, 1.0000001, 59.9, 60, 61, 1e9)


def _pair() -> tuple[CollectorRegistry, CollectorRegistry]:
    return CollectorRegistry(auto_describe=True), CollectorRegistry(auto_describe=True)


def _text(registry: CollectorRegistry) -> str:
    """The exposition with `_created` timestamps blanked (they differ by construction time)."""
    raw = generate_latest(registry).decode()
    return re.sub(r"(_created(\{[^}]*\})?) \S+", r"\1 T", raw)


def test_counter_exposition_matches_prometheus_client() -> None:
    ours, theirs = _pair()
    mine = LoopCounter("t_requests", "Requests", ["a", "b"], registry=ours)
    ref = Counter("t_requests", "Requests", ["a", "b"], registry=theirs)
    updates = ((("x", "1"), 1), (("y", ""), 3), (("x", "1"), 2.5), (("z", "q"), 0), (("w", "2"), 4))
    for i, (labels, n) in enumerate(updates):
        if i % 2:
            mine.add(labels, n)  # the one-call form the gateway uses
        else:
            mine.labels(*labels).inc(n)
        ref.labels(*labels).inc(n)
    assert _text(ours) == _text(theirs)
    assert 't_requests_total{a="x",b="1"} 3.5' in _text(ours)
    assert 't_requests_created{a="x",b="1"} T' in _text(ours)


def test_histogram_exposition_matches_prometheus_client() -> None:
    ours, theirs = _pair()
    mine = LoopHistogram("t_seconds", "Durations", buckets=_BUCKETS, registry=ours)
    ref = Histogram("t_seconds", "Durations", buckets=_BUCKETS, registry=theirs)
    assert _text(ours) == _text(theirs)  # empty
    for v in _VALUES:
        mine.observe(v)
        ref.observe(v)
    assert _text(ours) == _text(theirs)
    assert 't_seconds_bucket{le="0.0005"} 3.0' in _text(ours)
    assert 't_seconds_bucket{le="+Inf"} 12.0' in _text(ours)


def test_gauge_exposition_matches_prometheus_client() -> None:
    ours, theirs = _pair()
    mine = LoopGauge("t_inflight", "In flight", registry=ours)
    ref = Gauge("t_inflight", "In flight", registry=theirs)
    for op in ("inc", "inc", "dec", "inc"):
        getattr(mine, op)()
        getattr(ref, op)()
    assert _text(ours) == _text(theirs)
    assert "t_inflight 2.0" in _text(ours)


def test_created_series_follow_prometheus_clients_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = CollectorRegistry()
    LoopCounter("t_c", "C", ["a"], registry=registry).labels("1").inc()
    LoopHistogram("t_h", "H", buckets=(1,), registry=registry).observe(0.5)
    monkeypatch.setenv("PROMETHEUS_DISABLE_CREATED_SERIES", "True")
    assert "_created" not in generate_latest(registry).decode()
    monkeypatch.setenv("PROMETHEUS_DISABLE_CREATED_SERIES", "False")
    assert generate_latest(registry).decode().count("_created") == 2 * 3  # HELP, TYPE, sample


def test_wrong_label_count_and_unsorted_buckets_are_refused() -> None:
    registry = CollectorRegistry()
    counter = LoopCounter("t_c", "C", ["a", "b"], registry=registry)
    with pytest.raises(ValueError):
        counter.labels("only-one")
    with pytest.raises(ValueError):
        LoopHistogram("t_h", "H", buckets=(1, 0.5), registry=registry)


def test_a_duplicate_name_is_refused_like_prometheus_clients() -> None:
    registry = CollectorRegistry(auto_describe=True)
    LoopCounter("t_c", "C", ["a"], registry=registry)
    with pytest.raises(ValueError):
        Counter("t_c", "again", ["a"], registry=registry)


def test_the_gateways_families_keep_their_names_and_order() -> None:
    """Dashboards and alerts read these names (R17.2): the per-request ones are the loop kind,
    in the registry's original order."""
    text = Metrics().render().decode()
    types = re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.M)
    assert [t for t in types if not t[0].endswith("_created")] == [
        ("torouter_requests_total", "counter"),
        ("torouter_request_duration_seconds", "histogram"),
        ("torouter_gateway_overhead_seconds", "histogram"),
        ("torouter_ttft_seconds", "histogram"),
        ("torouter_tokens_total", "counter"),
        ("torouter_cost_nanousd_total", "counter"),
        ("torouter_upstream_requests_total", "counter"),
        ("torouter_inflight_requests", "gauge"),
        ("torouter_channel_cooldowns_total", "counter"),
        ("torouter_channel_state", "gauge"),
        ("torouter_usage_queue_depth", "gauge"),
    ]
