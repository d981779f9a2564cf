"""Several workers, each with its own usage journal (R11.2, issue 18 point 4): kill -9 of the
whole server in the middle of traffic, then a start with fewer workers, loses no charge and
charges nothing twice — every worker's leftovers are replayed, whichever process replays them.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import CONFIG
from tests.e2e.harness import GatewayProcess, wait_until
from tests.e2e.test_admission_setup import redis_db_url
from tests.e2e.test_lifecycle import Traffic, check_books

pytestmark = pytest.mark.redis


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        return [int(p) for p in fh.read().split()]


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[GatewayProcess]:
    env = {"TOROUTER_SERVER__WORKERS": "2", "TOROUTER_REDIS__URL": redis_db_url(0)}
    gw = GatewayProcess(tmp_path, CONFIG, env=env)
    yield gw
    gw.stop(signal.SIGKILL)


def test_kill_9_of_two_workers_then_one_replays_both_journals(workers: GatewayProcess) -> None:
    gw = workers.start()
    pids: set[int] = set()
    for _ in range(2):
        line = gw.wait_log(lambda r: r.get("msg") == "ready" and r.get("pid") not in pids)
        pids.add(line["pid"])
    slots = sorted(p.name for p in (gw.workdir / "data" / "journal").iterdir() if p.is_dir())
    assert slots == ["w0", "w1"]  # one journal per worker
    traffic = Traffic(gw)
    traffic.start()
    wait_until(lambda: len(traffic.completed) >= 80, timeout=60, what="traffic")
    assert gw.proc is not None
    for pid in children(gw.proc.pid):  # every worker, then the supervisor: nothing drains
        os.kill(pid, signal.SIGKILL)
    gw.proc.kill()
    gw.proc.wait(10)
    traffic.stop()
    gw.env["TOROUTER_SERVER__WORKERS"] = "1"
    gw.start()  # one process: its own journal and the other worker's, replayed
    replayed = [r for r in gw.lines if r.get("msg") == "usage journal replayed"]
    print("replayed at restart:", [(r["rows"], r["written"]) for r in replayed])
    gw.stop()
    check_books(gw, traffic)
    left = [p for p in (gw.workdir / "data" / "journal").rglob("*.jsonl") if p.stat().st_size]
    assert left == [], "a worker's journal was not replayed"
