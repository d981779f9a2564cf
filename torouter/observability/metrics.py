"""Prometheus metrics (SPEC R17.2), on a registry owned by the app (two apps fit one process)."""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Labelled", "Metrics"]

_LAT = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


M = TypeVar("M", Counter, Gauge)


class Labelled(Generic[M]):
    """A labelled metric whose children are remembered: prometheus_client validates, locks and
    builds a tuple on every `labels()` call, and the hot path asks for the same few children."""

    def __init__(self, metric: M) -> None:
        self.metric = metric
        self._children: dict[tuple[str, ...], M] = {}

    def labels(self, *values: str) -> M:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.metric.labels(*values)
        return child


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Labelled(
            Counter(
                "torouter_requests",
                "Gateway requests",
                ["front_door", "operation", "status", "code"],
                registry=r,
            )
        )
        self.duration = Histogram(
            "torouter_request_duration_seconds", "Request duration", buckets=_LAT, registry=r
        )
        self.overhead = Histogram(
            "torouter_gateway_overhead_seconds",
            "Total minus upstream wait",
            buckets=_LAT,
            registry=r,
        )
        self.ttft = Histogram(
            "torouter_ttft_seconds", "Time to first byte", buckets=_LAT, registry=r
        )
        self.tokens = Labelled(Counter("torouter_tokens", "Tokens", ["kind", "model"], registry=r))
        self.cost = Labelled(
            Counter("torouter_cost_nanousd", "Cost in nUSD", ["model"], registry=r)
        )
        self.upstream = Labelled(
            Counter(
                "torouter_upstream_requests", "Upstream attempts", ["channel", "class"], registry=r
            )
        )
        self.inflight = Gauge("torouter_inflight_requests", "Requests in flight", registry=r)
        self.cooldowns = Counter(
            "torouter_channel_cooldowns", "Channel cooldowns", ["channel", "reason"], registry=r
        )
        self.channel_state = Gauge(
            "torouter_channel_state",
            "1 for the channel's current state",
            ["channel", "state"],
            registry=r,
        )
        self.queue_depth = Gauge("torouter_usage_queue_depth", "Usage rows queued", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
