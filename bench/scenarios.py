"""The scenarios of SPEC R20.1 and how one of them is measured against one target.

A target is a URL and the front door it speaks: OpenAI chat (the mock itself, "direct"; the
gateway; the LiteLLM proxy) or Anthropic Messages (the gateway's ``/v1/messages``, translated to
the same OpenAI channel). A scenario runs against the targets of its front door. Each measurement
is a warm-up run, then the measured wrk run, with the CPU time of the target's process (and of
the mock) sampled from /proc just before and after.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.loadgen import WrkRun, serial, wrk
from bench.payloads import Front
from bench.procs import cpu_busy_s, sample, wait_quiet

__all__ = [
    "PASS_THROUGH_OF",
    "SCENARIOS",
    "TRANSLATED",
    "Scenario",
    "Target",
    "Timing",
    "measure",
    "measure_once",
]


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    title: str
    body: str  # a name of payloads.BODIES
    connections: int
    slow: bool = False  # a long-running scenario: its own, longer, quick-mode duration
    serial: bool = False  # also time it with the exact one-connection client (bench/serial.py)
    front: Front = "openai"  # run against the targets that speak this (and its body's format)


# SPEC R20.1 "translated routes": Anthropic Messages in, the same OpenAI channel on the mock out
# (Anthropic -> internal -> OpenAI chat and back); the report compares each with its same-format
# pass-through scenario (`PASS_THROUGH_OF`): minimum half, goal 70 %.
TRANSLATED: tuple[Scenario, ...] = (
    Scenario(
        "translated_nonstream_c32",
        "Anthropic messages -> openai channel, non-stream, c=32",
        "messages",
        32,
        front="anthropic",
    ),
    Scenario(
        "translated_stream_c32",
        "Anthropic messages -> openai channel, 20-chunk streams, c=32",
        "messages_stream",
        32,
        front="anthropic",
    ),
)
PASS_THROUGH_OF = {
    "translated_nonstream_c32": "nonstream_c32",
    "translated_stream_c32": "stream_c32",
}

# Run order: each translated scenario right after its pass-through one (the same machine state).
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("nonstream_c32", "non-stream chat, c=32", "chat", 32),
    TRANSLATED[0],
    Scenario("stream_c32", "20-chunk streams, c=32", "stream", 32),
    TRANSLATED[1],
    Scenario("latency_c1", "non-stream chat, c=1", "chat", 1, serial=True),
    Scenario("slow_streams_c128", "slow streams (20 ms between events), c=128", "slow", 128, True),
)


@dataclass(frozen=True, slots=True)
class Target:
    name: str  # "direct", "gateway", "litellm"
    url: str
    auth: str | None  # the authorization header
    pid: int | None = None  # whose CPU time the requests are charged
    front: Front = "openai"  # the protocol it speaks
    extra_headers: tuple[tuple[str, str], ...] = ()  # e.g. x-api-key, anthropic-version

    @property
    def headers(self) -> dict[str, str]:
        auth = {"authorization": self.auth} if self.auth else {}
        return auth | dict(self.extra_headers)


@dataclass(frozen=True, slots=True)
class Timing:
    seconds: int  # the measured run
    warmup_s: int
    slow_seconds: int  # the measured run of a `slow` scenario
    load_cpu: str | None  # the core of wrk
    watch: Sequence[int] = field(default=())  # other pids sharing wrk's core (the mock)
    quiet_wait_s: float = 0.0  # before each scenario, wait up to this long for an idle machine
    repeat: int = 1  # measured runs per scenario and target; the quietest one is kept


def measure(
    scenario: Scenario, target: Target, bodies: dict[str, Path], timing: Timing
) -> dict[str, Any]:
    """``measure_once`` ``timing.repeat`` times; keep the run during which other processes used
    the least CPU (on a shared machine, the one least disturbed), and record the others' rates."""
    runs = [
        measure_once(scenario, target, bodies, timing, warm=i == 0)
        for i in range(max(1, timing.repeat))
    ]
    best = min(runs, key=lambda r: r["foreign_cpu"])
    if len(runs) > 1:
        best["repeats"] = [
            {"rate": r["rate"], "foreign_cpu": r["foreign_cpu"], "error_count": r["error_count"]}
            for r in runs
        ]
        if "warmup" in runs[0]:
            best["warmup"] = runs[0]["warmup"]
    return best


def measure_once(
    scenario: Scenario, target: Target, bodies: dict[str, Path], timing: Timing, *, warm: bool
) -> dict[str, Any]:
    """Warm up (if ``warm``), then one measured wrk run, with CPU deltas; a JSON-ready dict.

    ``cpu_*`` is the target's process; ``load_core_util`` the mock plus wrk (the shared core on
    a 2-core machine); ``foreign_cpu`` what every other process on the machine used, in cores
    (non-zero means a shared, noisy machine); ``little_rate`` is connections / mean latency,
    the rate without the end-of-run quantization of whole slow streams.
    """
    body = bodies[scenario.body]
    seconds = timing.slow_seconds if scenario.slow else timing.seconds

    def run(secs: int) -> WrkRun:
        return wrk(
            target.url,
            body,
            connections=scenario.connections,
            seconds=secs,
            headers=target.headers,
            cpu=timing.load_cpu,
        )

    waited = wait_quiet(timing.quiet_wait_s) if timing.quiet_wait_s > 0 else None
    warmup = run(timing.warmup_s) if warm and timing.warmup_s > 0 else None
    pids = list(dict.fromkeys([*([target.pid] if target.pid else []), *timing.watch]))
    before = {pid: sample(pid) for pid in pids}
    busy0, steal0 = cpu_busy_s()
    result = run(seconds)
    busy1, steal1 = cpu_busy_s()
    after = {pid: sample(pid) for pid in pids}
    used = {pid: after[pid].cpu_s - before[pid].cpu_s for pid in pids}
    secs = result.duration_s or float(seconds)

    out: dict[str, Any] = {"target": target.name, **result.as_dict()}
    mean_s = result.latency_us["mean"] / 1e6
    out["little_rate"] = round(scenario.connections / mean_s, 1) if mean_s else 0.0
    if waited is not None:
        out["waited_for_quiet_s"] = round(waited, 1)
    if warmup is not None:
        out["warmup"] = {"requests": warmup.requests, "error_count": warmup.error_count}
    if target.pid:
        cpu = used[target.pid]
        per = cpu * 1000 / result.requests if result.requests else None
        out["cpu_s"] = round(cpu, 3)
        out["cpu_util"] = round(cpu / secs, 3)
        out["cpu_ms_per_request"] = round(per, 4) if per is not None else None
        out["rss_mb"] = round(after[target.pid].rss_kb / 1024, 1)
    if timing.watch:
        shared = sum(used[pid] for pid in timing.watch) + result.wrk_cpu_s
        out["load_core_util"] = round(shared / secs, 3)
    foreign = (busy1 - busy0) - sum(used.values()) - result.wrk_cpu_s
    out["foreign_cpu"] = round(max(0.0, foreign) / secs, 3)
    out["steal_cpu"] = round((steal1 - steal0) / secs, 3)
    if scenario.serial:
        out["serial"] = serial(
            target.url,
            body,
            seconds=seconds,
            warmup_s=1 if warm else 0,
            auth=target.auth,
            cpu=timing.load_cpu,
        )
    return out
