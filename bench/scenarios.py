"""The scenarios of SPEC R20.1 and how one of them is measured against one target.

A target is a URL that speaks OpenAI chat: the mock itself ("direct"), the gateway, or the
LiteLLM proxy. Each measurement is a warm-up run, then the measured wrk run, with the CPU time of
the target's process (and of the mock) sampled from /proc just before and after.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.loadgen import WrkRun, wrk
from bench.procs import sample

__all__ = ["SCENARIOS", "TRANSLATED", "Scenario", "Target", "Timing", "measure"]


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    title: str
    body: str  # a name of payloads.BODIES
    connections: int
    slow: bool = False  # a long-running scenario: its own, longer, quick-mode duration


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("nonstream_c32", "non-stream chat, c=32", "chat", 32),
    Scenario("stream_c32", "20-chunk streams, c=32", "stream", 32),
    Scenario("latency_c1", "non-stream chat, c=1", "chat", 1),
    Scenario("slow_streams_c128", "slow streams (20 ms between events), c=128", "slow", 128, True),
)

# Hook for SPEC R20.1 "translated routes" (a later issue): an OpenAI-chat request to a model whose
# only channel speaks another protocol. To turn it on, give the gateway config a model routed to
# the mock's Anthropic (or Gemini) endpoint (see ``stack.gateway_config(translated=...)``) and
# append these to the scenarios run against the gateway; the report compares them with the
# same-format gateway numbers (minimum: half, goal: 70 %).
TRANSLATED: tuple[Scenario, ...] = (
    Scenario("translated_nonstream_c32", "translated non-stream chat, c=32", "chat", 32),
    Scenario("translated_stream_c32", "translated 20-chunk streams, c=32", "stream", 32),
)


@dataclass(frozen=True, slots=True)
class Target:
    name: str  # "direct", "gateway", "litellm"
    url: str
    auth: str | None
    pid: int | None = None  # whose CPU time the requests are charged
    model: str = "bench-gpt"


@dataclass(frozen=True, slots=True)
class Timing:
    seconds: int  # the measured run
    warmup_s: int
    slow_seconds: int  # the measured run of a `slow` scenario
    load_cpu: str | None  # the core of wrk
    watch: Sequence[int] = field(default=())  # other pids sharing wrk's core (the mock)


def measure(
    scenario: Scenario, target: Target, bodies: dict[str, Path], timing: Timing
) -> dict[str, Any]:
    """Warm up, then one measured wrk run, with CPU deltas; a JSON-ready dict."""
    body = bodies[scenario.body]
    seconds = timing.slow_seconds if scenario.slow else timing.seconds

    def run(secs: int) -> WrkRun:
        return wrk(
            target.url,
            body,
            connections=scenario.connections,
            seconds=secs,
            auth=target.auth,
            cpu=timing.load_cpu,
        )

    warm = run(timing.warmup_s) if timing.warmup_s > 0 else None
    before = sample(target.pid) if target.pid else None
    others = [sample(p).cpu_s for p in timing.watch]
    result = run(seconds)
    others = [sample(p).cpu_s - b for p, b in zip(timing.watch, others, strict=True)]
    out: dict[str, Any] = {"target": target.name, **result.as_dict()}
    if warm is not None:
        out["warmup"] = {"requests": warm.requests, "error_count": warm.error_count}
    if before is not None and target.pid:
        after = sample(target.pid)
        cpu = after.cpu_s - before.cpu_s
        out["cpu_s"] = round(cpu, 3)
        out["cpu_util"] = round(cpu / result.duration_s, 3) if result.duration_s else None
        per = cpu * 1000 / result.requests if result.requests else None
        out["cpu_ms_per_request"] = round(per, 4) if per is not None else None
        out["rss_mb"] = round(after.rss_kb / 1024, 1)
    if timing.watch:
        shared = sum(others) + result.wrk_cpu_s
        out["load_core_util"] = round(shared / result.duration_s, 3) if result.duration_s else None
    return out
