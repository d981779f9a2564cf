"""Prometheus metrics (SPEC R17.2), on a registry owned by the app (two apps fit one process)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from torouter.observability.loop_metrics import LoopCounter, LoopGauge, LoopHistogram

__all__ = ["Metrics"]

_LAT = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class _Attempt(Protocol):
    @property
    def channel_id(self) -> int: ...
    @property
    def cls(self) -> str: ...


class _Usage(Protocol):
    @property
    def input(self) -> int: ...
    @property
    def output(self) -> int: ...
    @property
    def cache_read(self) -> int: ...


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

    def request_done(
        self,
        labels: tuple[str, str, str, str],
        duration: float,
        overhead: float,
        ttft: float | None,
        attempts: Iterable[_Attempt],
        model: str,
        usage: _Usage | None,
        cost_nusd: int,
    ) -> None:
        """Every per-request series for one finished request, in one call: as separate
        `labels().inc()` / `observe()` calls they were sixteen, ~2.5 % of a request's
        instructions (callgrind)."""
        self.requests.add(labels)
        self.duration.observe(duration)
        self.overhead.observe(overhead)
        if ttft is not None:
            self.ttft.observe(ttft)
        upstream = self.upstream
        for a in attempts:
            upstream.add((str(a.channel_id), a.cls))
        if usage is not None and model:
            tokens = self.tokens
            if usage.input:
                tokens.add(("input", model), usage.input)
            if usage.output:
                tokens.add(("output", model), usage.output)
            if usage.cache_read:
                tokens.add(("cache_read", model), usage.cache_read)
            if cost_nusd:
                self.cost.add((model,), cost_nusd)

    def render(self) -> bytes:
        return generate_latest(self.registry)
