"""Direct-to-mock versus through-the-gateway: the SPEC R20.1 benchmark (run by ``bench/run.py``).

Layout on the machine (``--gateway-cpu``, ``--mock-cpu``, ``--load-cpu``): the gateway alone on
core 0; the mock on core 1; wrk on core 2 when there is one, else on core 1 with the mock. On a
2-core machine the mock and wrk share a core: the direct numbers are then limited by that core
(both processes on it), and the gateway numbers are valid as long as that core is not saturated
(``load_core_util`` in the JSON says how busy it was).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.machine import REPO, machine_info
from bench.payloads import BODIES, BODY_BYTES, probe, write_bodies
from bench.procs import Server, sample
from bench.report import render, spec_rows, translated_summary
from bench.scaled import ScaledStores
from bench.scenarios import SCENARIOS, Scenario, Target, Timing, measure
from bench.stack import (
    KEY,
    MOCK_AUTH,
    MODEL,
    floor_server,
    gateway_server,
    mock_server,
    pick_source,
    summarize_access_log,
)

__all__ = ["core", "default_cores", "flags_of", "main", "run_pairs", "warnings_of"]

CHAT_PATH = "/v1/chat/completions"
MESSAGES_PATH = "/v1/messages"
ANTHROPIC_VERSION = "2023-06-01"


def default_cores() -> tuple[str, str, str]:
    """(gateway, mock, wrk) cores: 0 / 1 / 2, or 0 / 1 / 1 on two cores."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) == 1:
        return str(cpus[0]), str(cpus[0]), str(cpus[0])
    load = cpus[2] if len(cpus) > 2 else cpus[1]
    return str(cpus[0]), str(cpus[1]), str(load)


def core(value: str) -> str | None:
    """A ``--*-cpu`` value: a taskset list, or none/off for an unpinned process."""
    return None if value.lower() in ("", "none", "off") else value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    gw, mock, load = default_cores()
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the CI smoke run: 1 s runs, < 60 s")
    p.add_argument("--out", type=Path, help="result JSON (default: bench/results/<date>-<sha>)")
    p.add_argument("--seconds", type=int, help="measured run per scenario (default 10; quick 1)")
    p.add_argument("--warmup", type=int, help="warm-up run per scenario (default 2; quick 1)")
    p.add_argument("--slow-seconds", type=int, help="slow-stream run (default 10; quick 2)")
    p.add_argument("--gateway-cpu", default=gw, help=f"core of the gateway (default {gw})")
    p.add_argument("--mock-cpu", default=mock, help=f"core of the mock (default {mock})")
    p.add_argument("--load-cpu", default=load, help=f"core of wrk (default {load}; none: unpinned)")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        metavar="S",
        help="before each scenario wait up to S s for the machine to be idle (shared machines)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="N measured runs per scenario and target; keep the one least disturbed by others",
    )
    p.add_argument("--only", nargs="+", metavar="SCENARIO", help="run only these scenarios")
    p.add_argument(
        "--scaled-out",
        action="store_true",
        help="the gateway on PostgreSQL + Redis (--pg-url, --redis-url) instead of the embedded "
        "SQLite + in-process counters",
    )
    p.add_argument(
        "--pg-url",
        default=os.environ.get("TOROUTER_TEST_PG_URL"),
        help="with --scaled-out: a PostgreSQL server URL (a fresh database is created on it; "
        "default $TOROUTER_TEST_PG_URL)",
    )
    p.add_argument(
        "--redis-url",
        default=os.environ.get("TOROUTER_TEST_REDIS_URL"),
        help="with --scaled-out: a Redis database URL, flushed first (default "
        "$TOROUTER_TEST_REDIS_URL)",
    )
    p.add_argument(
        "--workers", type=int, default=1, help="gateway workers (above 1 needs --scaled-out)"
    )
    p.add_argument(
        "--upstream-client",
        choices=("native", "aiohttp"),
        help="the gateway's upstream HTTP client (upstream.client; default: the setting's)",
    )
    p.add_argument("--commit", metavar="REV", help="measure REV's torouter/, not the work tree")
    p.add_argument(
        "--no-floor",
        dest="floor",
        action="store_false",
        help="skip the bare reference proxy (bench/floor.py) the gateway is compared with",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, data)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a SPEC minimum fails")
    p.add_argument("--show", type=Path, metavar="JSON", help="print a saved result and exit")
    p.add_argument("--markdown", action="store_true", help="with --show: a Markdown table")
    args = p.parse_args(argv)
    if args.scaled_out and not (args.pg_url and args.redis_url):
        p.error("--scaled-out needs --pg-url and --redis-url")
    if args.workers > 1 and not args.scaled_out:
        p.error("--workers above 1 needs --scaled-out (several workers need Redis)")
    quick = args.quick
    args.seconds = args.seconds or (1 if quick else 10)
    args.warmup = args.warmup if args.warmup is not None else (1 if quick else 2)
    args.slow_seconds = args.slow_seconds or (2 if quick else 10)
    return args


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def describe(scenario: Scenario, out: dict[str, Any]) -> str:
    lat = out["latency_us"]
    parts = [
        f"{scenario.key:<18} {out['target']:<8} {out['rate']:>10,.1f}/s",
        f"p50 {lat['p50'] / 1000:7.3f} ms  p99 {lat['p99'] / 1000:7.3f} ms",
        f"errors {out['error_count']}",
    ]
    if out.get("cpu_util") is not None:
        parts.append(f"cpu {out['cpu_util']:.0%} {out['cpu_ms_per_request']} ms/req")
    if out.get("load_core_util") is not None:
        parts.append(f"load core {out['load_core_util']:.0%}")
    parts.append(f"others {out['foreign_cpu']:.2f} cores")
    exact = out.get("serial")
    if exact:
        lat = exact["latency_us"]
        parts.append(f"| serial p50 {lat['p50'] / 1000:.3f} ms p99 {lat['p99'] / 1000:.3f} ms")
    return "  ".join(parts)


def probe_all(targets: Sequence[Target], bodies: dict[str, Path]) -> dict[str, Any]:
    """One probe per target and body of its front door: {target name: {body name: probe}}."""
    out: dict[str, Any] = {}
    for target in targets:
        mine = out.setdefault(target.name, {})
        for name, spec in BODIES.items():
            if spec.front == target.front:
                answer = probe(
                    target.url, bodies[name], target.headers, stream=spec.stream, front=spec.front
                )
                mine[name] = answer.as_dict()
    return out


def run_pairs(
    scenarios: Sequence[Scenario],
    targets: Sequence[Target],
    bodies: dict[str, Path],
    timing: Timing,
) -> dict[str, dict[str, Any]]:
    """Each scenario against each target of its front door in turn (same order every time)."""
    results: dict[str, dict[str, Any]] = {}
    for scenario in scenarios:
        entry: dict[str, Any] = {
            "title": scenario.title,
            "connections": scenario.connections,
            "body": scenario.body,
            "front": scenario.front,
        }
        for target in targets:
            if target.front != scenario.front:
                continue
            entry[target.name] = out = measure(scenario, target, bodies, timing)
            say(describe(scenario, out))
        results[scenario.key] = entry
    return results


def flags_of(result: dict[str, Any]) -> list[str]:
    """Everything that makes the run's numbers suspect; an empty list is a clean run."""
    flags = []
    for target, bodies in result.get("probes", {}).items():
        for body, info in bodies.items():
            flags += [f"probe {target}/{body}: {p}" for p in info["problems"]]
    for key, entry in result.get("scenarios", {}).items():
        for target, out in entry.items():
            if not isinstance(out, dict) or "error_count" not in out:
                continue
            if out["error_count"]:
                flags.append(f"{key}/{target}: {out['error_count']} errors {out['errors']}")
            if not out["requests"]:
                flags.append(f"{key}/{target}: no request completed")
            exact = out.get("serial") or {}
            if exact.get("non_2xx"):
                flags.append(f"{key}/{target}: {exact['non_2xx']} non-2xx in the serial client")
            repeats = out.get("repeats") or ()
            dropped = sum(r["error_count"] for r in repeats) - out["error_count"] if repeats else 0
            if dropped:
                flags.append(f"{key}/{target}: {dropped} errors in the repeats not kept")
            warm = out.get("warmup") or {}
            if warm.get("error_count"):
                flags.append(f"{key}/{target}: {warm['error_count']} errors in the warm-up")
    log = result.get("gateway", {}).get("access_log", {})
    for status, count in log.get("statuses", {}).items():
        if status.isdigit() and int(status) >= 500:
            flags.append(f"gateway logged {count} responses with status {status}")
    levels = log.get("warnings_errors", {})
    for level in ("ERROR", "CRITICAL"):
        if levels.get(level):
            flags.append(f"gateway logged {levels[level]} {level} lines")
    return flags


NOISY_CORES = 0.15  # other processes' CPU during a run, in cores, above which it is "noisy"


def warnings_of(result: dict[str, Any]) -> list[str]:
    """Conditions that make numbers unreliable without being errors (a shared, busy machine)."""
    out = []
    for key, entry in result.get("scenarios", {}).items():
        for target, run in entry.items():
            if isinstance(run, dict) and run.get("foreign_cpu", 0) > NOISY_CORES:
                out.append(
                    f"{key}/{target}: other processes used {run['foreign_cpu']:.2f} cores "
                    "during the run (a busy machine: numbers unreliable)"
                )
    return out


def _default_out(quick: bool, commit: str) -> Path:
    if quick:
        return REPO / "bench" / "results" / "quick.json.tmp"
    day = dt.date.today().isoformat()
    return REPO / "bench" / "results" / f"{day}-{commit[:7] or 'nogit'}.json"


def run(args: argparse.Namespace) -> dict[str, Any]:
    scenarios = [s for s in SCENARIOS if not args.only or s.key in args.only]
    gw_cpu, mock_cpu, load_cpu = core(args.gateway_cpu), core(args.mock_cpu), core(args.load_cpu)
    result: dict[str, Any] = {
        "schema": 1,
        "kind": "gateway-vs-direct",
        "quick": args.quick,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "setup": {
            "cores": {"gateway": gw_cpu, "mock": mock_cpu, "wrk": load_cpu},
            "gateway_workers": args.workers,
            "stores": "postgresql+redis" if args.scaled_out else "embedded",
            "upstream_client": args.upstream_client or "default",
            "wrk_threads": 1,
            "seconds": args.seconds,
            "warmup_s": args.warmup,
            "slow_seconds": args.slow_seconds,
            "body_bytes": BODY_BYTES,
        },
    }
    if args.upstream_client:  # the gateway process inherits the environment (`Server`)
        os.environ["TOROUTER_UPSTREAM__CLIENT"] = args.upstream_client
    tmp = Path(tempfile.mkdtemp(prefix="torouter-bench-"))
    bodies = write_bodies(tmp, MODEL)
    source, result["source"] = pick_source(args.commit, tmp / "src")
    mock = mock_server(tmp, mock_cpu, source)
    gateway: Server | None = None
    floor: Server | None = None
    stores: ScaledStores | None = None
    try:
        mock.start()
        if args.scaled_out:
            stores = ScaledStores(args.pg_url, args.redis_url).create()
        gateway = gateway_server(
            tmp, mock.base_url, gw_cpu, source, stores=stores, workers=args.workers
        ).start()
        started = sample(gateway.pid)
        if args.floor:  # on the gateway's core: the two never run at the same time
            floor = floor_server(tmp, mock.base_url, gw_cpu).start()
        anthropic = (("x-api-key", KEY), ("anthropic-version", ANTHROPIC_VERSION))
        targets = [
            Target("direct", mock.base_url + CHAT_PATH, MOCK_AUTH, mock.pid),
            Target("gateway", gateway.base_url + CHAT_PATH, f"Bearer {KEY}", gateway.pid),
            # the translated route: same gateway, model and openai channel; Anthropic front door
            Target(
                "gateway",
                gateway.base_url + MESSAGES_PATH,
                None,
                gateway.pid,
                front="anthropic",
                extra_headers=anthropic,
            ),
        ]
        if floor is not None:
            url = floor.base_url + CHAT_PATH
            targets.insert(2, Target("floor", url, f"Bearer {KEY}", floor.pid))
        result["probes"] = probe_all(targets, bodies)
        timing = Timing(
            args.seconds,
            args.warmup,
            args.slow_seconds,
            load_cpu,
            (mock.pid,),
            args.quiet_wait,
            args.repeat,
        )
        result["scenarios"] = run_pairs(scenarios, targets, bodies, timing)
        end = sample(gateway.pid)
        result["gateway"] = {
            "rss_after_start_mb": round(started.rss_kb / 1024, 1),
            "rss_end_mb": round(end.rss_kb / 1024, 1),
            "peak_rss_mb": round(end.peak_rss_kb / 1024, 1),
            "cpu_s_total": round(end.cpu_s - started.cpu_s, 2),
        }
    finally:
        if floor is not None:
            floor.stop()
        if gateway is not None:
            code = gateway.stop()
            result.setdefault("gateway", {})["exit_code"] = code
        mock.stop()
        if stores is not None:
            stores.drop()
        result.setdefault("gateway", {})["access_log"] = summarize_access_log(tmp / "gateway.log")
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    result["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    totals = {"direct": 0, "gateway": 0}
    for entry in result["scenarios"].values():
        for name in totals:
            totals[name] += entry.get(name, {}).get("error_count", 0)
    result["errors"] = totals
    result["translated"] = translated_summary(result)
    result["table"] = [row.as_dict() for row in spec_rows(result)]
    result["flags"] = flags_of(result)
    result["warnings"] = warnings_of(result)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.show:
        saved = orjson.loads(args.show.read_bytes())
        print(render(spec_rows(saved), markdown=args.markdown))
        return 0
    t0 = time.monotonic()
    result = run(args)
    result["wall_s"] = round(time.monotonic() - t0, 1)
    out = args.out or _default_out(args.quick, result["machine"]["git_commit"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    rows = spec_rows(result)
    print(render(rows))
    if args.quick:
        print("quick mode: runs of 1-2 s, a smoke test; the numbers are not representative")
    for warning in result["warnings"]:
        print(f"WARNING: {warning}")
    for flag in result["flags"]:
        print(f"FLAGGED: {flag}")
    print(f"saved {out} ({result['wall_s']} s)")
    if result["flags"]:
        return 1
    if args.strict and any(r.verdict == "FAIL" for r in rows):
        return 1
    return 0
