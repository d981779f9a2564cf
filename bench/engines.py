"""HTTP server engines side by side: CPU per request of uvicorn and granian (issue 20, point 4).

Throughput on a shared 2-core machine is noise; the CPU time a server process spends per request
at the same offered load is much less so. Every target runs at once, pinned to the same core,
in front of the same mock (on the load core with wrk):

- the floor (`bench/floor.py`) under uvicorn (httptools, uvloop), granian's ASGI interface and
  granian's RSGI interface (the same work through a small adapter);
- the gateway under `torouter serve` (uvicorn with our bounded protocol, R18.5) and under
  granian's ASGI interface (`granian --factory torouter.app:from_environment`, uvloop, one
  worker, no WebSocket, no access log of its own).

Rounds alternate the targets (so a change in the machine's load touches each alike). A round
measures each target at a paced load (`--connections` connections, each waiting `--delay-ms`
after every response: a roughly fixed rate that leaves the core idle part of the time) and at
saturation (32 connections, no delay). CPU is user + system of the server's whole process tree
and every thread (granian's Rust runtime threads included), read from /proc around the run.
The median over the rounds is reported per target and load, with the rate for information.

    .venv/bin/python bench/engines.py [--rounds 3] [--seconds 5] [--kind nonstream|stream]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:  # `python bench/engines.py` as well as `-m bench.engines`
    sys.path.insert(0, str(_REPO))

import orjson  # noqa: E402

from bench.loadgen import wrk  # noqa: E402
from bench.payloads import write_bodies  # noqa: E402
from bench.procs import Server, cpu_busy_s, free_port, sample  # noqa: E402
from bench.stack import KEY, MODEL, floor_server, gateway_config, mock_server  # noqa: E402

ENGINES_FLOOR = ("uvicorn", "granian-asgi", "granian-rsgi")


def require_granian() -> None:
    """granian is not a dependency of ToRouter (it lost, see bench/README.md): install it to
    compare again."""
    if shutil.which("granian", path=str(Path(sys.executable).parent)) is None:
        raise SystemExit(
            "granian is not installed in this venv: .venv/bin/pip install 'granian[uvloop]==2.8.9'"
        )


def granian_gateway(folder: Path, mock_base: str, cpu: str | None) -> Server:
    """The gateway's app under granian's ASGI interface, configured as `serve` would run it."""
    port = free_port()
    config = folder / "torouter-granian.toml"
    config.write_text(gateway_config(folder / "data-granian", mock_base))
    granian = str(Path(sys.executable).parent / "granian")
    return Server(
        "gateway-granian-asgi",
        [
            granian,
            "--interface",
            "asgi",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--no-ws",
            "--log-level",
            "warning",
            "torouter.app:from_environment",
        ],
        cpu=cpu,
        log=folder / "gateway-granian.log",
        base_url=f"http://127.0.0.1:{port}",
        ready_path="/readyz",
        env={"TOROUTER_CONFIG": str(config), "TOROUTER_SERVER__PORT": str(port)},
        cwd=folder,
    )


def uvicorn_gateway(folder: Path, mock_base: str, cpu: str | None) -> Server:
    port = free_port()
    config = folder / "torouter.toml"
    config.write_text(gateway_config(folder / "data", mock_base))
    script = Path(sys.executable).parent / "torouter"
    return Server(
        "gateway-uvicorn",
        [str(script), "serve", "--config", str(config), "--port", str(port)],
        cpu=cpu,
        log=folder / "gateway.log",
        base_url=f"http://127.0.0.1:{port}",
        ready_path="/readyz",
        cwd=folder,
    )


def measure(
    server: Server, body: Path, connections: int, seconds: int, delay_ms: int, cpu: str | None
) -> dict[str, Any]:
    """One wrk run against `server`: its tree's CPU ms per request, the rate, the errors."""
    env_before = os.environ.get("WRK_DELAY_MS")
    if delay_ms:
        os.environ["WRK_DELAY_MS"] = str(delay_ms)
    else:
        os.environ.pop("WRK_DELAY_MS", None)
    try:
        before = sample(server.pid)
        busy0, _ = cpu_busy_s()
        run = wrk(
            server.base_url + "/v1/chat/completions",
            body,
            connections=connections,
            seconds=seconds,
            headers={"authorization": f"Bearer {KEY}"},
            cpu=cpu,
        )
        busy1, _ = cpu_busy_s()
        after = sample(server.pid)
    finally:
        if env_before is None:
            os.environ.pop("WRK_DELAY_MS", None)
        else:
            os.environ["WRK_DELAY_MS"] = env_before
    used = after.cpu_s - before.cpu_s
    return {
        "requests": run.requests,
        "rate": round(run.rate, 1),
        "errors": run.error_count,
        "cpu_ms_per_request": round(used * 1000 / run.requests, 4) if run.requests else None,
        "cpu_util": round(used / run.duration_s, 3) if run.duration_s else None,
        "machine_busy_cores": round((busy1 - busy0) / run.duration_s, 2),
        "rss_mb": round(after.rss_kb / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--kind", choices=("nonstream", "stream"), default="nonstream")
    parser.add_argument("--connections", type=int, default=8, help="paced load's connections")
    parser.add_argument("--delay-ms", type=int, default=8, help="paced load's pause")
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--load-cpu", default="1")
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument("--no-gateway", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    require_granian()

    folder = Path(tempfile.mkdtemp(prefix="engines-"))
    bodies = write_bodies(folder, MODEL)
    body = bodies["stream" if args.kind == "stream" else "chat"]
    mock = mock_server(folder, args.load_cpu).start()
    servers: list[Server] = []
    try:
        if not args.no_floor:
            for engine in ENGINES_FLOOR:
                servers.append(floor_server(folder, mock.base_url, args.server_cpu, engine))
        if not args.no_gateway:
            servers.append(uvicorn_gateway(folder, mock.base_url, args.server_cpu))
            servers.append(granian_gateway(folder, mock.base_url, args.server_cpu))
        for server in servers:
            server.start()
            measure(server, body, 8, 2, 0, args.load_cpu)  # warm-up, not counted
        loads = {"paced": (args.connections, args.delay_ms), "c32": (32, 0)}
        results: dict[str, dict[str, list[dict[str, Any]]]] = {
            s.name: {load: [] for load in loads} for s in servers
        }
        for round_no in range(args.rounds):
            order = servers if round_no % 2 == 0 else list(reversed(servers))
            for server in order:
                for load, (conns, delay) in loads.items():
                    r = measure(server, body, conns, args.seconds, delay, args.load_cpu)
                    results[server.name][load].append(r)
                    print(f"round {round_no + 1} {server.name:22} {load:6} {r}", flush=True)
        summary = _summary(results)
        print(_table(summary, args.kind))
        if args.out:
            args.out.write_bytes(
                orjson.dumps(
                    {"kind": args.kind, "summary": summary, "runs": results},
                    option=orjson.OPT_INDENT_2,
                )
            )
    finally:
        for server in servers:
            server.stop()
        mock.stop()
    shutil.rmtree(folder, ignore_errors=True)


def _summary(results: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, loads in results.items():
        out[name] = {}
        for load, runs in loads.items():
            cpus = [r["cpu_ms_per_request"] for r in runs if r["cpu_ms_per_request"]]
            out[name][load] = {
                "cpu_ms_per_request_median": round(statistics.median(cpus), 4) if cpus else None,
                "cpu_ms_per_request_all": cpus,
                "rate_median": round(statistics.median(r["rate"] for r in runs), 1),
                "errors": sum(r["errors"] for r in runs),
                "machine_busy_cores": [r["machine_busy_cores"] for r in runs],
            }
    return out


def _table(summary: dict[str, Any], kind: str) -> str:
    lines = [
        f"{kind}: CPU ms per request (median of rounds), rate req/s",
        f"{'target':24} {'paced cpu':>10} {'paced rate':>10} {'c32 cpu':>10} {'c32 rate':>10}",
    ]
    for name, loads in summary.items():
        p, s = loads["paced"], loads["c32"]
        lines.append(
            f"{name:24} {p['cpu_ms_per_request_median']!s:>10} {p['rate_median']:>10} "
            f"{s['cpu_ms_per_request_median']!s:>10} {s['rate_median']:>10}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
