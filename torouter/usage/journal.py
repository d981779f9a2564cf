"""The local usage journal (SPEC R11.2): no lost charge on a crash.

Each settled row is appended (no fsync) to the current segment before it is queued. The writer
rotates to a new segment before draining the queue, so every row of the old segments is in its
hands; once they are committed the old segments are deleted. At start, leftover segments are
replayed (idempotently by admission id) and removed.

A segment is a file of `SEGMENT_BYTES` reserved up front (`posix_fallocate`) and mapped into
memory: a row is copied into the mapping, with no system call. The pages are the file's own
page cache, so a row copied there is the kernel's to keep even if this process is killed the
next instant (like a `write`, which cost ~5 µs a row at the gateway's rate: ~2 % of a
request). Blocks are reserved before the mapping is written, so a full disk fails the
`posix_fallocate` (and the journal falls back to one `write` per row) instead of a write to the
mapping raising SIGBUS. A closed segment is truncated to its rows; one left by a crash keeps its
zero-filled tail, which `read` skips.
"""

from __future__ import annotations

import logging
import mmap
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from torouter.private_files import private_folder
from torouter.usage.row import UsageRow

__all__ = ["SEGMENT_BYTES", "Journal"]

log = logging.getLogger("torouter.usage")

# ~250 rows of the gateway's; the mapped pages a segment has filled count in the process's RSS.
SEGMENT_BYTES = 256 * 1024


class Journal:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        private_folder(self.dir)  # rows name users, keys and costs (R18.3)
        self._seq = self._last_seq()
        self._fd: int | None = None
        self._map: mmap.mmap | None = None  # None with a segment open: plain writes
        self._pos = 0  # the end of the rows in the mapped segment
        self._warned = False

    def _last_seq(self) -> int:
        seqs = [int(p.stem.split("-")[1]) for p in self.dir.glob("usage-*.jsonl")]
        return max(seqs, default=0)

    def _open_new(self, size: int) -> None:
        self._seq += 1
        path = self.dir / f"usage-{self._seq:012d}.jsonl"
        fd = self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._pos = 0
        try:
            os.posix_fallocate(fd, 0, size)
            self._map = mmap.mmap(fd, size)
        except OSError as exc:  # a full disk, a file system without fallocate: plain writes
            if not self._warned:
                log.warning("usage journal segment not mapped (%s); appending with write()", exc)
                self._warned = True
            os.ftruncate(fd, 0)
            self._map = None

    def append(self, row: UsageRow) -> None:
        """One line per row; the OS keeps it even if this process is killed."""
        line = orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)
        end = self._pos + len(line)
        if self._fd is None or (self._map is not None and end > len(self._map)):
            self._close_segment()  # none open, or full: the next segment takes the row
            self._open_new(max(SEGMENT_BYTES, len(line)))
            end = len(line)
        if self._map is None:
            assert self._fd is not None
            os.write(self._fd, line)
            return
        self._map[self._pos : end] = line
        self._pos = end

    def _close_segment(self) -> None:
        """Unmap the current segment and cut it to its rows."""
        fd = self._fd
        if fd is None:
            return
        if self._map is not None:
            self._map.close()
            self._map = None
            os.ftruncate(fd, self._pos)
        os.close(fd)
        self._fd = None
        self._pos = 0

    def rotate(self) -> list[Path]:
        """Close the current segment; return every closed segment (oldest first)."""
        self._close_segment()
        return sorted(self.dir.glob("usage-*.jsonl"))

    @staticmethod
    def read(paths: list[Path]) -> Iterator[dict[str, Any]]:
        for p in paths:
            with p.open("rb") as fh:
                for line in fh:
                    if line.startswith(b"\0"):
                        break  # the unwritten tail of a segment its process never closed
                    try:
                        yield orjson.loads(line)
                    except orjson.JSONDecodeError:
                        continue  # a torn last line from a crash: its request never finished

    @staticmethod
    def remove(paths: list[Path]) -> None:
        for p in paths:
            p.unlink(missing_ok=True)

    def close(self) -> None:
        self._close_segment()
