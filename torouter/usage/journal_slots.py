"""One usage journal directory per process (SPEC R11.2), and the leftovers of dead ones.

With `server.workers > 1` every worker used to append to, rotate and delete the segments of
one shared `journal/` directory: a worker's flush deleted segments another worker was still
writing (their rows then lived only in that worker's memory), and every worker replayed every
segment at start. Now each process owns a slot, `journal/w<N>/`, held by an exclusive `flock`
on its `.lock` file for the process's lifetime (the kernel drops it when the process dies, even
by kill -9), so the lowest free slot is reused after a restart.

At start a process also adopts every slot nobody holds (a worker that died, or fewer workers
than last time) and the flat `journal/` segments older versions wrote, replays their rows
(idempotently by admission id) and lets them go: no process's leftovers wait for a process with
the same number.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from torouter.private_files import private_folder

__all__ = ["JournalSlot", "adopted_segments"]

_SLOT = re.compile(r"w\d+")
_LOCK = ".lock"
_MAX_SLOTS = 4096  # far above any worker count: a bound, not a limit anyone meets


def _try_lock(directory: Path) -> int | None:
    """The descriptor holding `directory`'s lock, or None when another process holds it."""
    fd = os.open(directory / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)  # rows are private (R18.3)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class JournalSlot:
    """This process's own journal directory under `root`, locked until `release`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        private_folder(root)
        self._fd: int | None = None
        self.path = self._claim()

    def _claim(self) -> Path:
        for n in range(_MAX_SLOTS):
            directory = self.root / f"w{n}"
            private_folder(directory)
            fd = _try_lock(directory)
            if fd is not None:
                self._fd = fd
                return directory
        raise RuntimeError(f"no free usage journal slot under {self.root}")

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # drops the flock: the next process may take this slot


@contextmanager
def adopted_segments(root: Path, own: Path) -> Iterator[list[Path]]:
    """The segments of every slot no live process holds (and of the flat legacy layout),
    locked while the caller replays them; `own` is the caller's slot, replayed by its journal.
    """
    held: list[int] = []
    segments: list[Path] = []
    try:
        slots = (p for p in root.iterdir() if p.is_dir() and _SLOT.fullmatch(p.name))
        candidates = [root, *sorted(p for p in slots if p != own)]
        for directory in candidates:
            found = sorted(directory.glob("usage-*.jsonl"))
            if not found:
                continue
            fd = _try_lock(directory)
            if fd is None:
                continue  # a live process's slot: its rows are its own
            held.append(fd)
            segments += sorted(directory.glob("usage-*.jsonl"))  # again, now that it is ours
        yield segments
    finally:
        for fd in held:
            os.close(fd)
