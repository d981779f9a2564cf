"""System calls per gateway request, by call (and by thread): an A/B measure that machine load
barely moves (bench/README.md, "Fifth session").

    .venv/bin/python -m bench.syscalls REV SCENARIO [--seconds N]

REV is a commit (exported with `git archive`) or `tree`; SCENARIO is `nonstream`, `stream`,
`tr_nonstream` or `tr_stream`. The gateway runs as `torouter serve` against the mock (the
usage writer as configured by default); after a warm-up, `strace -f -c` is attached for one wrk
run (8 connections) and the counts are divided by the requests wrk completed. Callgrind counts
instructions in user space only; a system call's kernel work (a loopback `write` also runs
the receiver's TCP processing) shows here and in CPU time, not there. Needs strace and wrk.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.instructions import _request
from bench.machine import REPO
from bench.procs import free_port, wait_ready
from bench.stack import export_commit, gateway_config, mock_server

_WRK_LUA = Path(__file__).resolve().parent / "wrk" / "chat.lua"


def _wrk(url: str, body: Path, headers: dict[str, str], seconds: int) -> int:
    cmd = ["wrk", "-t1", "-c8", f"-d{seconds}s", "--timeout=30s", "-s", str(_WRK_LUA), url]
    cmd += ["--", str(body), *(f"{k}: {v}" for k, v in headers.items())]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("@@WRK"))
    return int(json.loads(line.split(" ", 1)[1])["requests"])


def _counts(report: Path) -> dict[str, int]:
    """`strace -c`'s table: calls per system call name."""
    counts: dict[str, int] = {}
    for line in report.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[3].isdigit() and parts[-1] != "total":
            counts[parts[-1]] = int(parts[3])
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rev", help="a commit, or `tree` for the installed package")
    parser.add_argument("scenario", choices=["nonstream", "stream", "tr_nonstream", "tr_stream"])
    parser.add_argument("--seconds", type=int, default=4)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="bench-syscalls-"))
    source: Path | None = None
    env = dict(os.environ)
    if args.rev != "tree":
        source = folder / "src"
        export_commit(REPO, args.rev, source)
        env["PYTHONPATH"] = str(source)
    mock = mock_server(folder, None, source).start()
    config = folder / "torouter.toml"
    config.write_text(gateway_config(folder / "data", mock.base_url))
    port = free_port()
    cmd = [sys.executable, "-m", "torouter.cli", "serve", "--config", str(config)]
    cmd += ["--port", str(port), "--workers", "1"]
    log = (folder / "gateway.log").open("wb")
    gw = subprocess.Popen(cmd, env=env, cwd=folder, stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/readyz", 120)
        url, raw, headers = _request(base, args.scenario)
        body = folder / "body.json"
        body.write_bytes(raw)
        _wrk(url, body, headers, 2)  # warm-up, not counted
        report = folder / "strace.txt"
        strace = subprocess.Popen(
            ["strace", "-f", "-c", "-p", str(gw.pid), "-o", str(report)],
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.5)  # attached to every thread
        n = _wrk(url, body, headers, args.seconds)
        time.sleep(0.5)
        strace.send_signal(signal.SIGINT)
        strace.wait(30)
    finally:
        gw.send_signal(signal.SIGKILL)
        gw.wait(30)
        mock.stop()
    counts = _counts(report)
    print(f"{args.rev} {args.scenario}: {n} requests; system calls per request ({folder})")
    for name, calls in sorted(counts.items(), key=lambda kv: -kv[1]):
        if calls / n >= 0.01:
            print(f"  {calls / n:8.2f}  {name}")
    print(f"  {sum(counts.values()) / n:8.2f}  total")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
