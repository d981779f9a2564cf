"""The local usage journal (SPEC R11.2): no lost charge on a crash.

Each settled row is appended (one `write`, no fsync) to the current segment before it is
queued. The writer rotates to a new segment before draining the queue, so every row of the
old segments is in its hands; once they are committed the old segments are deleted. At start,
leftover segments are replayed (idempotently by admission id) and removed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from torouter.private_files import private_folder
from torouter.usage.row import UsageRow

__all__ = ["Journal"]


class Journal:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        private_folder(self.dir)  # rows name users, keys and costs (R18.3)
        self._seq = self._last_seq()
        self._fd: int | None = None
        self._path: Path | None = None

    def _last_seq(self) -> int:
        seqs = [int(p.stem.split("-")[1]) for p in self.dir.glob("usage-*.jsonl")]
        return max(seqs, default=0)

    def _open_new(self) -> None:
        self._seq += 1
        self._path = self.dir / f"usage-{self._seq:012d}.jsonl"
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def append(self, row: UsageRow) -> None:
        """One write of one line; the OS keeps it even if this process is killed."""
        if self._fd is None:
            self._open_new()
        assert self._fd is not None
        os.write(self._fd, orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))  # no 2nd copy

    def rotate(self) -> list[Path]:
        """Close the current segment; return every closed segment (oldest first)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._path = None
        return sorted(self.dir.glob("usage-*.jsonl"))

    @staticmethod
    def read(paths: list[Path]) -> Iterator[dict[str, Any]]:
        for p in paths:
            with p.open("rb") as fh:
                for line in fh:
                    try:
                        yield orjson.loads(line)
                    except orjson.JSONDecodeError:
                        continue  # a torn last line from a crash: its request never finished

    @staticmethod
    def remove(paths: list[Path]) -> None:
        for p in paths:
            p.unlink(missing_ok=True)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
