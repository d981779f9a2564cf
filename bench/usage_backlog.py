"""The usage writer under a saturated event loop (issue 20: peak RSS; the writer-thread lever).

Under the benchmark's load the gateway's loop never idles, and the SQLite writer, whose every
statement is a round trip through that loop, falls behind: rows pile up in memory. This
script reproduces that without HTTP, in one process: `--tasks` coroutines each burn
`--work-us` of CPU (a request's share of the loop, ~0.3 ms in the gateway), yield, and record
one row shaped like the gateway's (bench/usage_data.py) through a real `UsageRecorder` with
its journal, on a fresh SQLite file, for `--seconds`. Then it awaits the queue's drain.

    .venv/bin/python bench/usage_backlog.py --writer loop      # the writer task on the loop
    .venv/bin/python bench/usage_backlog.py --writer thread    # usage.writer_thread = true

Printed (one JSON line): rows recorded and written during the load, the deepest queue seen,
the seconds to drain afterwards, this process's VmHWM growth over the run, and CPU ms per row
(process CPU, every thread, over the load and the drain: the writer's whole cost included),
split into the writer's threads' CPU per row and the serving thread's beyond its `--work-us`.
The machine's load changes the rates, not which writer keeps up; compare runs taken in turn.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def vm(field: str) -> float:
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def thread_cpu_s() -> tuple[float, float]:
    """(this thread's CPU, every other thread's CPU) in seconds, from /proc: the writer's own
    cost apart from what the serving thread pays for it (hand-offs, lent time)."""
    tick = os.sysconf("SC_CLK_TCK")
    main = threading.get_native_id()
    mine = others = 0.0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        used = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        if int(tid) == main:
            mine += used
        else:
            others += used
    return mine, others


async def run(a: argparse.Namespace) -> dict[str, object]:
    sys.path.insert(0, str(HERE))
    from sqlalchemy import insert
    from usage_data import RowMaker

    from torouter.storage import tables as t
    from torouter.storage.db import Database
    from torouter.storage.migrate import upgrade
    from torouter.usage.journal import Journal
    from torouter.usage.recorder import UsageRecorder

    folder = Path(tempfile.mkdtemp())
    db = Database(f"sqlite+aiosqlite:///{folder / 'usage.db'}")
    await upgrade(db)
    now = dt.datetime.now(dt.UTC)
    keys = [(k, 1 + k % 10, f"k{k}") for k in range(1, a.keys + 1)]
    async with db.begin() as conn:
        await conn.execute(
            insert(t.users),
            [
                {"id": u, "email": f"u{u}@x.test", "balance_nusd": 10**18, "created_at": now}
                for u in range(1, 11)
            ],
        )
        await conn.execute(insert(t.groups).values(id=1, name="g", created_at=now))
        await conn.execute(
            insert(t.api_keys),
            [
                {
                    "id": k,
                    "user_id": u,
                    "group_id": 1,
                    "name": name,
                    "key_hash": f"{k:064x}",
                    "mask": "sk-…",
                    "created_at": now,
                }
                for k, u, name in keys
            ],
        )
    maker = RowMaker(keys)
    recorder = UsageRecorder(
        db, Journal(folder / "journal"), writer_thread=a.writer == "thread", queue_size=10**9
    )
    recorder.start()
    deepest = 0
    recorded = 0
    stop = time.monotonic() + a.seconds
    work = a.work_us / 1e6

    async def request_loop(i: int) -> None:
        nonlocal deepest, recorded
        while time.monotonic() < stop:
            end = time.perf_counter() + work
            while time.perf_counter() < end:  # the request's own CPU on the loop
                pass
            await asyncio.sleep(0)
            row = maker.row(recorded, time.time())
            row["admission_id"] = f"a{recorded}"
            recorder.record(row)  # type: ignore[arg-type]
            recorded += 1
            deepest = max(deepest, recorder.depth)

    hwm0, cpu0 = vm("VmHWM"), cpu_s()
    main0, others0 = thread_cpu_s()
    await asyncio.gather(*(request_loop(i) for i in range(a.tasks)))
    written_in_load = recorder.written
    drain_start = time.monotonic()
    while recorder.depth:
        await recorder.flush()
    drain_s = time.monotonic() - drain_start
    cpu = cpu_s() - cpu0
    main1, others1 = thread_cpu_s()  # before close: the writer's threads are still alive
    await recorder.close()
    await db.dispose()
    return {
        "writer": a.writer,
        "recorded": recorded,
        "written_during_load": written_in_load,
        "deepest_queue": deepest,
        "drain_s": round(drain_s, 2),
        "vmhwm_growth_mb": round(vm("VmHWM") - hwm0, 1),
        "cpu_ms_per_row": round(cpu * 1000 / max(recorded, 1), 4),
        # The serving thread's CPU per row less the simulated request work, and the other
        # threads' (the writer and its helpers): the writer's cost on each side.
        "serving_extra_us_per_row": round((main1 - main0) * 1e6 / max(recorded, 1) - a.work_us, 1),
        "writer_threads_us_per_row": round((others1 - others0) * 1e6 / max(recorded, 1), 1),
        "load": os.getloadavg()[0],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--writer", choices=["loop", "thread"], default="loop")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--tasks", type=int, default=32, help="concurrent request loops (32: c=32)")
    p.add_argument("--work-us", type=float, default=300, help="CPU per request on the loop")
    p.add_argument(
        "--keys", type=int, default=100, help="API keys the rows spread over (bench/run.py: 1)"
    )
    a = p.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(run(a))))


if __name__ == "__main__":
    main()
