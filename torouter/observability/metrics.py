"""Prometheus metrics (SPEC R17.2), on a registry owned by the app (two apps fit one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from torouter.observability.loop_metrics import LoopCounter, LoopGauge, LoopHistogram

__all__ = ["Metrics"]

_LAT = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        # Updated per request from the event loop: lock-free (`loop_metrics.py`).
        self.requests = LoopCounter(
            "torouter_requests",
            "Gateway requests",
            ["front_door", "operation", "status", "code"],
            registry=r,
        )
        self.duration = LoopHistogram(
            "torouter_request_duration_seconds", "Request duration", buckets=_LAT, registry=r
        )
        self.overhead = LoopHistogram(
            "torouter_gateway_overhead_seconds",
            "Total minus upstream wait",
            buckets=_LAT,
            registry=r,
        )
        self.ttft = LoopHistogram(
            "torouter_ttft_seconds", "Time to first byte", buckets=_LAT, registry=r
        )
        self.tokens = LoopCounter("torouter_tokens", "Tokens", ["kind", "model"], registry=r)
        self.cost = LoopCounter("torouter_cost_nanousd", "Cost in nUSD", ["model"], registry=r)
        self.upstream = LoopCounter(
            "torouter_upstream_requests", "Upstream attempts", ["channel", "class"], registry=r
        )
        self.inflight = LoopGauge("torouter_inflight_requests", "Requests in flight", registry=r)
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
