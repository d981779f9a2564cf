"""Instructions per request of a server engine under callgrind: the load-independent A/B.

    .venv/bin/python bench/engines_cg.py TARGET [nonstream|stream] [--seconds 10]

TARGET: `gateway-uvicorn` (`torouter serve`), `gateway-granian` (granian's ASGI interface on
`torouter.app:from_environment`), `floor-uvicorn`, `floor-granian-asgi`, `floor-granian-rsgi`.
The server runs under `valgrind --tool=callgrind --trace-children=yes` (granian's worker is a
child process; valgrind follows every thread, Rust's included) with instrumentation off; it is
switched on for an idle period (to subtract the background rate: timers, granian's runtime) and
then for a wrk run at 8 connections; the counts of every process of the tree are summed.
Slow (valgrind runs the code ~50× slower): a few hundred requests are enough.
"""

from __future__ import annotations

import argparse
import glob
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from bench.engines import require_granian  # noqa: E402
from bench.loadgen import wrk  # noqa: E402
from bench.payloads import write_bodies  # noqa: E402
from bench.procs import _descendants, free_port  # noqa: E402
from bench.stack import KEY, MOCK_AUTH, MODEL, gateway_config, mock_server  # noqa: E402


def _command(
    target: str, folder: Path, mock_base: str, port: int
) -> tuple[list[str], dict[str, str]]:
    bin_dir = Path(sys.executable).parent
    if target.startswith("gateway"):
        config = folder / "torouter.toml"
        config.write_text(gateway_config(folder / "data", mock_base))
        if target == "gateway-uvicorn":
            return [
                str(bin_dir / "torouter"),
                "serve",
                "--config",
                str(config),
                "--port",
                str(port),
            ], {}
        cmd = [str(bin_dir / "granian"), "--interface", "asgi", "--factory", "--port", str(port),
               "--workers", "1", "--loop", "uvloop", "--no-ws", "--log-level", "warning",
               "torouter.app:from_environment"]  # fmt: skip
        return cmd, {"TOROUTER_CONFIG": str(config), "TOROUTER_SERVER__PORT": str(port)}
    engine = target.removeprefix("floor-")
    cmd = [sys.executable, str(_REPO / "bench" / "floor.py"), "--port", str(port), "--upstream",
           f"{mock_base}/v1", "--key", KEY, "--auth", MOCK_AUTH, "--engine", engine]  # fmt: skip
    return cmd, {}


def _ready(url: str, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer")


def _control(pids: list[int], *args: str) -> None:
    for pid in pids:  # only the processes started here: never every callgrind on the machine
        subprocess.run(["callgrind_control", *args, str(pid)], capture_output=True)


def _total(folder: Path, pids: list[int]) -> int:
    _control(pids, "-d")
    time.sleep(2)
    total = 0
    for name in glob.glob(f"{folder}/cg.out*"):
        for line in open(name):
            if line.startswith("totals:"):
                total += int(line.split()[1])
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target")
    parser.add_argument("kind", nargs="?", default="nonstream", choices=("nonstream", "stream"))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--idle-seconds", type=int, default=10)
    args = parser.parse_args()
    require_granian()
    folder = Path(tempfile.mkdtemp(prefix="engines-cg-"))
    body = write_bodies(folder, MODEL)["stream" if args.kind == "stream" else "chat"]
    mock = mock_server(folder, None).start()
    port = free_port()
    cmd, env = _command(args.target, folder, mock.base_url, port)
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--trace-children=yes",
                f"--callgrind-out-file={folder}/cg.out.%p"]  # fmt: skip
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(
        [*valgrind, *cmd],
        env={**os.environ, **env},
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _ready(base + ("/readyz" if args.target.startswith("gateway") else "/healthz"))

        def load(seconds: int) -> int:
            return wrk(
                base + "/v1/chat/completions",
                body,
                connections=8,
                seconds=seconds,
                headers={"authorization": f"Bearer {KEY}"},
                cpu=None,
                timeout_s=30,
            ).requests

        load(3)  # warm-up
        time.sleep(1)
        pids = _descendants(proc.pid)
        _control(pids, "-i", "on")
        t0 = time.monotonic()
        time.sleep(args.idle_seconds)
        idle_s = time.monotonic() - t0
        _control(pids, "-i", "off")
        idle = _total(folder, pids)
        _control(pids, "-z")
        _control(pids, "-i", "on")
        t0 = time.monotonic()
        n = load(args.seconds)
        time.sleep(2)  # the usage writer's flush of these requests belongs to them
        load_s = time.monotonic() - t0
        _control(pids, "-i", "off")
        busy = _total(folder, pids) - idle
        rate = idle / idle_s
        corrected = (busy - rate * load_s) / n if n else 0
        print(
            f"{args.target} {args.kind} n={n} raw Ir/req={busy / max(n, 1):,.0f} "
            f"idle {rate:,.0f} Ir/s corrected Ir/req={corrected:,.0f} ({folder})"
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what was started here
        proc.wait()
        mock.stop()


if __name__ == "__main__":
    main()
