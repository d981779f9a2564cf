"""Instructions per gateway request under callgrind: an A/B measure that machine load does not
move (bench/README.md, "Per-request Python work").

    .venv/bin/python -m bench.instructions REV SCENARIO [--requests N]

REV is a commit (exported with `git archive`) or `tree`; SCENARIO is `nonstream`, `stream`,
`tr_nonstream` or `tr_stream` (the Anthropic front door on the OpenAI channel). The gateway
runs as `torouter serve` under `valgrind --tool=callgrind` with collection off; after a warm-up
the idle background (timers) is counted for 12 s, then a fixed number of requests (8
connections) is sent and counted. The usage writer's flush is held off, so its batching, which
depends on the request rate under valgrind, stays out of the figure (the journal write per
request stays in); `--writer` counts it too, in batches of 100 rows, waiting until the
counted requests' rows are stored (but for a last partial batch: the rows written are
printed). Prints raw instructions per request and the same less the idle rate times the
elapsed time. Needs valgrind (`callgrind_control`); takes minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

from bench.machine import REPO
from bench.procs import free_port, wait_ready
from bench.stack import KEY, export_commit, gateway_config, mock_server

# The writer idles during the measurement: rows queue (and are journaled) but are not written.
_HOLD_WRITER = "[usage]\nflush_interval_s = 3600.0\nbatch_size = 1000000\n"
# `--writer`: the writer counted too, in batches of a fixed size rather than of whatever the
# rate under valgrind leaves every flush interval: the warm-up's rows are written before the
# count, the counted requests' rows 100 at a time, and the count ends once all but a last
# partial batch are stored (the rows written are printed).
_BATCHED_WRITER = "[usage]\nflush_interval_s = 3600.0\nbatch_size = 100\n"
_WARM_UP = 80
_WARM_UP_WRITER = 104  # a multiple of the connections, over one batch: written at once


def _wait_rows(database: Path, n: int, timeout_s: float = 600) -> int:
    """Until the usage log holds `n` rows (the writer under valgrind is slow to catch up);
    returns how many it holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.closing(sqlite3.connect(database)) as conn:
            stored = int(conn.execute("SELECT count(*) FROM usage_logs").fetchone()[0])
        if stored >= n:
            return stored
        time.sleep(0.5)
    raise TimeoutError(f"the usage writer did not store {n} rows")


_CONNECTIONS = 8
_IDLE_S = 12.0


def _request(base: str, scenario: str) -> tuple[str, bytes, dict[str, str]]:
    stream = scenario.endswith("_stream") or scenario == "stream"
    body: dict[str, object] = {
        "model": "bench-gpt",
        "messages": [{"role": "user", "content": "hello " * 20}],
        "stream": stream,
    }
    if scenario.startswith("tr_"):
        body["max_tokens"] = 100
        headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
        return base + "/v1/messages", orjson.dumps(body), headers
    return base + "/v1/chat/completions", orjson.dumps(body), {"authorization": f"Bearer {KEY}"}


async def _send(url: str, body: bytes, headers: dict[str, str], n: int) -> int:
    """`n` requests over `_CONNECTIONS` connections, bodies read whole; returns the non-200s."""
    bad = 0
    hdrs = {**headers, "content-type": "application/json"}
    async with aiohttp.ClientSession() as session:

        async def worker(count: int) -> None:
            nonlocal bad
            for _ in range(count):
                async with session.post(url, data=body, headers=hdrs) as resp:
                    await resp.read()
                    bad += resp.status != 200

        await asyncio.gather(*(worker(n // _CONNECTIONS) for _ in range(_CONNECTIONS)))
    return bad


def _dumped_total(pid: int, folder: Path) -> int:
    """Dump callgrind's counters and sum every dump's total instructions so far."""
    subprocess.run(["callgrind_control", "-d", str(pid)], capture_output=True, check=False)
    time.sleep(2)
    total = 0
    for dump in folder.glob("cg.out*"):
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith("totals:"):
                total += int(line.split()[1])
    return total


def _collect(pid: int, on: bool) -> None:
    flag = "on" if on else "off"
    subprocess.run(["callgrind_control", "-i", flag, str(pid)], capture_output=True, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rev", help="a commit, or `tree` for the installed package")
    parser.add_argument("scenario", choices=["nonstream", "stream", "tr_nonstream", "tr_stream"])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument(
        "--writer", action="store_true", help="count the usage writer too (batches of 100)"
    )
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="bench-instructions-"))
    source: Path | None = None
    env: dict[str, str] = {}
    if args.rev != "tree":
        source = folder / "src"
        export_commit(REPO, args.rev, source)
        env["PYTHONPATH"] = str(source)
    mock = mock_server(folder, None, source).start()
    config = folder / "torouter.toml"
    config.write_text(
        gateway_config(
            folder / "data", mock.base_url, stores=_BATCHED_WRITER if args.writer else _HOLD_WRITER
        )
    )
    port = free_port()
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
    cmd += [f"--callgrind-out-file={folder}/cg.out", sys.executable, "-m", "torouter.cli"]
    cmd += ["serve", "--config", str(config), "--port", str(port), "--workers", "1"]
    log = (folder / "gateway.log").open("wb")
    gw = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=folder, stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/readyz", 600, 5)
        url, body, headers = _request(base, args.scenario)
        warm_up = _WARM_UP_WRITER if args.writer else _WARM_UP
        asyncio.run(_send(url, body, headers, warm_up))  # warm-up, not counted
        database = folder / "data" / "torouter.db"
        stored_before = _wait_rows(database, 100) if args.writer else 0
        time.sleep(4)
        _collect(gw.pid, True)
        time.sleep(_IDLE_S)
        _collect(gw.pid, False)
        idle = _dumped_total(gw.pid, folder)
        subprocess.run(["callgrind_control", "-z", str(gw.pid)], capture_output=True, check=False)
        _collect(gw.pid, True)
        started = time.monotonic()
        bad = asyncio.run(_send(url, body, headers, args.requests))
        time.sleep(3)  # let the last answers' work finish
        written = 0
        if args.writer:  # the counted rows written, but for a last batch short of 100 rows
            sent = args.requests // _CONNECTIONS * _CONNECTIONS
            written = _wait_rows(database, stored_before + sent - 99) - stored_before
        elapsed = time.monotonic() - started
        _collect(gw.pid, False)
        counted = _dumped_total(gw.pid, folder) - idle
    finally:
        gw.send_signal(signal.SIGKILL)
        gw.wait(30)
        mock.stop()
    n = args.requests // _CONNECTIONS * _CONNECTIONS
    rate = idle / _IDLE_S
    print(
        f"{args.rev} {args.scenario}{' with the writer' if args.writer else ''}: "
        f"{n} requests ({bad} not 200) in {elapsed:.0f} s"
        f"{f', {written} usage rows written' if args.writer else ''}; "
        f"raw {counted / n:,.0f} instructions/request; idle {rate:,.0f}/s; "
        f"less idle {(counted - rate * elapsed) / n:,.0f} ({folder})"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
