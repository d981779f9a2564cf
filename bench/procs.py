"""The benchmarked processes: start them pinned to a core, wait until they answer, read /proc.

Everything here is Linux-only on purpose: the numbers come from ``/proc/<pid>/stat`` (CPU time)
and ``/proc/<pid>/status`` (``VmHWM``, the peak resident set), summed or maxed over the process
and its descendants so that a server that forks a worker is still measured whole.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcSample", "Server", "cpu_busy_s", "free_port", "pinned", "sample", "wait_quiet"]

_TICK = os.sysconf("SC_CLK_TCK")


def wait_ready(url: str, timeout_s: float, per_try_s: float = 2.0) -> None:
    """Poll `url` until it answers (any HTTP answer that is not an error); `OSError` after
    `timeout_s` (a server under valgrind needs minutes)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=per_try_s)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def free_port() -> int:
    """A TCP port that was free a moment ago (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cmd: Sequence[str], cpu: str | None) -> list[str]:
    """``cmd`` run under ``taskset -c cpu`` (taskset execs, so the pid stays the command's)."""
    if cpu is None:
        return list(cmd)
    taskset = shutil.which("taskset")
    if taskset is None:
        raise RuntimeError("taskset (util-linux) is needed to pin the benchmark to cores")
    return [taskset, "-c", cpu, *cmd]


def _descendants(pid: int) -> list[int]:
    out = [pid]
    for tid in _listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            for child in Path(f"/proc/{pid}/task/{tid}/children").read_text().split():
                out.extend(_descendants(int(child)))
    return out


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def cpu_busy_s() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot, all cores (``/proc/stat``).

    Busy minus what the benchmark's own processes used is what *other* processes took during a
    run: a shared machine shows up there (and steal is the hypervisor's share).
    """
    first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in first[1:9])
    return (user + nice + system + irq + softirq) / _TICK, steal / _TICK


def wait_quiet(max_wait_s: float, threshold: float = 0.1, window_s: float = 1.0) -> float:
    """Wait (up to ``max_wait_s``) for a ``window_s`` in which the whole machine used less than
    ``threshold`` cores, i.e. nobody else is running; returns the seconds waited."""
    t0 = time.monotonic()
    while True:
        busy0, _ = cpu_busy_s()
        time.sleep(window_s)
        busy1, _ = cpu_busy_s()
        waited = time.monotonic() - t0
        if (busy1 - busy0) / window_s < threshold or waited >= max_wait_s:
            return waited


@dataclass(frozen=True, slots=True)
class ProcSample:
    """CPU seconds (user + system) of a process tree, and its largest peak/current RSS."""

    cpu_s: float
    peak_rss_kb: int
    rss_kb: int


def sample(pid: int) -> ProcSample:
    cpu_ticks = 0
    peak = rss = 0
    for p in _descendants(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces and parens
        cpu_ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
            elif line.startswith("VmRSS:"):
                rss = max(rss, int(line.split()[1]))
    return ProcSample(cpu_ticks / _TICK, peak, rss)


class Server:
    """A server process: started pinned, output to a file, ready when ``ready_path`` answers 2xx."""

    def __init__(
        self,
        name: str,
        cmd: Sequence[str],
        *,
        cpu: str | None,
        log: Path,
        base_url: str,
        ready_path: str,
        ready_headers: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        unset: Sequence[str] = (),
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.cmd = pinned(cmd, cpu)
        self.cpu = cpu
        self.log = log
        self.base_url = base_url
        self.ready_url = base_url + ready_path
        self.ready_headers = dict(ready_headers or {})
        inherited = {k: v for k, v in os.environ.items() if k not in unset}
        self.env = {**inherited, **(env or {})}
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} is not running"
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> Server:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # a Ctrl-C on the bench reaches the bench, which stops us
            )
        deadline = time.monotonic() + timeout
        delay = 0.01
        while not self._answers():
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} before it was ready:\n"
                    + self.tail()
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.tail()}")
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        return self

    def _answers(self) -> bool:
        request = urllib.request.Request(self.ready_url, headers=self.ready_headers)
        try:
            with urllib.request.urlopen(request, timeout=2) as resp:
                return 200 <= resp.status < 300
        except urllib.error.HTTPError:
            return False
        except (OSError, ValueError):
            return False

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_bytes()[-chars:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (a graceful shutdown flushes logs and usage), then SIGKILL if it hangs."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what we started
                proc.wait()
        return proc.returncode

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
