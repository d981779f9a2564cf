"""Drive a URL with Debian's ``wrk`` and read back the JSON line its Lua ``done()`` prints.

wrk is used with one thread (``-t1``) pinned to the load generator's core: one C event loop
keeps up with tens of thousands of requests per second, more than any target here. It times a
response from the first byte of the request to the last byte of the body, so a stream is timed
whole. Its latency histogram has a resolution of one microsecond.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from bench.procs import pinned

__all__ = ["SCRIPT", "WrkRun", "find_wrk", "serial", "wrk"]

SCRIPT = Path(__file__).resolve().parent / "wrk" / "chat.lua"
_REPO = Path(__file__).resolve().parents[1]
_MARK = "@@WRK "


def find_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk, or scripts/setup.sh --test)")
    return path


@dataclass(frozen=True, slots=True)
class WrkRun:
    connections: int
    duration_s: float  # as measured by wrk
    requests: int  # completed responses (whole streams)
    bytes: int  # read by wrk, headers included
    errors: dict[str, int]  # connect, read, write, status (>= 400), timeout
    latency_us: dict[str, float]  # min, mean, stdev, max, p50, p75, p90, p99, p99.9
    wrk_cpu_s: float  # the load generator's own CPU time

    @property
    def rate(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "rate": round(self.rate, 1), "error_count": self.error_count}


def _parse(stdout: str, connections: int, wrk_cpu_s: float) -> WrkRun:
    line = next((ln for ln in stdout.splitlines() if ln.startswith(_MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no {_MARK.strip()} line:\n{stdout[-2000:]}")
    data = orjson.loads(line[len(_MARK) :])
    lat = data["latency_us"]
    latency = {k: float(lat[k]) for k in ("min", "mean", "stdev", "max")}
    latency |= {f"p{k}": float(v) for k, v in lat["percentiles"].items()}
    return WrkRun(
        connections=connections,
        duration_s=data["duration_us"] / 1e6,
        requests=int(data["requests"]),
        bytes=int(data["bytes"]),
        errors={k: int(v) for k, v in data["errors"].items()},
        latency_us=latency,
        wrk_cpu_s=round(wrk_cpu_s, 3),
    )


def wrk(
    url: str,
    body: Path,
    *,
    connections: int,
    seconds: int,
    headers: Mapping[str, str],
    cpu: str | None,
    timeout_s: int = 10,
) -> WrkRun:
    """One wrk run of ``seconds`` (whole seconds: wrk's ``-d`` takes no fractions), sending
    ``headers`` (auth and the like) besides the JSON content type."""
    cmd = pinned(
        [
            find_wrk(),
            "-t1",
            f"-c{connections}",
            f"-d{max(1, int(seconds))}s",
            f"--timeout={timeout_s}s",
            "-s",
            str(SCRIPT),
            url,
            "--",
            str(body),
            *(f"{name}: {value}" for name, value in headers.items()),
        ],
        cpu,
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + timeout_s + 30)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        tail = (out.stderr + out.stdout)[-2000:]
        raise RuntimeError(f"wrk failed ({out.returncode}): {tail}")
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return _parse(out.stdout, connections, cpu_s)


def serial(
    url: str, body: Path, *, seconds: int, warmup_s: int, auth: str | None, cpu: str | None
) -> dict[str, object]:
    """The exact one-connection latency client (``bench/serial.py``), pinned like wrk."""
    args = [url, str(body), "--auth", auth or "", "--seconds", str(seconds)]
    cmd = pinned([sys.executable, "-m", "bench.serial", *args, "--warmup", str(warmup_s)], cpu)
    env = {**os.environ, "PYTHONPATH": str(_REPO)}
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=seconds + warmup_s + 60, cwd=_REPO, env=env
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench.serial failed ({out.returncode}): {out.stderr[-2000:]}")
    return dict(orjson.loads(out.stdout.strip().splitlines()[-1]))
