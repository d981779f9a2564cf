"""Peak RSS of one gateway worker under the benchmark's load (issue 20 item 3, R20.1).

Starts the mock and the gateway as `bench/run.py` does (the embedded default, a fresh data
folder, one worker), reads the gateway's resident set after `/readyz`, then drives each chosen
scenario with wrk for `--seconds` and reads the peak (`VmHWM`) after each. RSS does not depend
on the machine's load (throughput does): this is the A/B measure for memory changes.

    .venv/bin/python bench/rss_load.py [--seconds 10] [--scenarios nonstream_c32,stream_c32]
        [--commit REV] [--env NAME=VALUE ...] [--maps]

`--env` sets variables of the gateway's environment (a variant: `TOROUTER_…` settings,
`MALLOC_ARENA_MAX`, …); `--maps` adds the largest anonymous mappings of the gateway at the end
(glibc arenas show up as 64 MB reservations with a few MB resident). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.loadgen import wrk  # noqa: E402
from bench.payloads import write_bodies  # noqa: E402
from bench.procs import sample  # noqa: E402
from bench.scenarios import SCENARIOS  # noqa: E402
from bench.stack import KEY, MODEL, gateway_server, mock_server, pick_source  # noqa: E402

_DEFAULT = "nonstream_c32,translated_nonstream_c32,stream_c32,translated_stream_c32"


def _mb(kb: int) -> float:
    return round(kb / 1024, 1)


def anonymous_maps(pid: int, top: int = 12) -> list[dict[str, Any]]:
    """The largest anonymous mappings by resident size (`/proc/PID/smaps`), in MB."""
    maps: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and not head[0].endswith(":"):
            name = head[5] if len(head) > 5 else "[anon]"
            lo, hi = (int(x, 16) for x in head[0].split("-"))
            current = {"name": name, "size_mb": round((hi - lo) / 2**20, 1), "rss_mb": 0.0}
            maps.append(current)
        elif head[0] == "Rss:" and current is not None:
            current["rss_mb"] = round(int(head[1]) / 1024, 1)
    anon = [m for m in maps if m["name"] in ("[anon]", "[heap]")]
    return sorted(anon, key=lambda m: -m["rss_mb"])[:top]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=int, default=10, help="per scenario (default 10)")
    p.add_argument("--scenarios", default=_DEFAULT, help=f"comma-separated (default {_DEFAULT})")
    p.add_argument("--commit", help="measure REV's torouter/, not the work tree")
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE for the gateway")
    p.add_argument("--maps", action="store_true", help="the largest anonymous mappings at the end")
    p.add_argument("--gateway-cpu", default="0")
    p.add_argument("--load-cpu", default="1")
    a = p.parse_args()
    chosen = [s for s in SCENARIOS if s.key in a.scenarios.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="torouter-rssload-"))
    source, _ = pick_source(a.commit, folder / "src")
    bodies = write_bodies(folder, MODEL)
    mock = mock_server(folder, a.load_cpu, source).start()
    gateway = gateway_server(folder, mock.base_url, a.gateway_cpu, source)
    gateway.env.update(dict(item.split("=", 1) for item in a.env))
    out: dict[str, Any] = {"env": a.env, "seconds": a.seconds}
    try:
        gateway.start()
        time.sleep(1)  # start-up's last tasks (the first heartbeat, the writer's first wait)
        ready = sample(gateway.pid)
        out["ready"] = {"rss_mb": _mb(ready.rss_kb), "peak_mb": _mb(ready.peak_rss_kb)}
        for scenario in chosen:
            headers = {"authorization": f"Bearer {KEY}"}
            path = "/v1/chat/completions"
            if scenario.front == "anthropic":
                headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
                path = "/v1/messages"
            try:
                run = wrk(
                    gateway.base_url + path,
                    bodies[scenario.body],
                    connections=scenario.connections,
                    seconds=a.seconds,
                    headers=headers,
                    cpu=a.load_cpu,
                )
                done: dict[str, Any] = {"requests": run.requests, "errors": run.error_count}
            except (RuntimeError, subprocess.TimeoutExpired) as exc:  # a stalled load: say so
                done = {"failed": str(exc)[:200]}
            after = sample(gateway.pid)
            out[scenario.key] = done | {
                "rss_mb": _mb(after.rss_kb),
                "peak_mb": _mb(after.peak_rss_kb),
            }
        if a.maps:
            out["maps"] = anonymous_maps(gateway.pid)
    finally:
        gateway.stop()
        mock.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
