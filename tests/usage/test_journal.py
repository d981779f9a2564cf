"""The usage journal (R11.2): rows survive a killed process, segments roll over and are cut
to their rows, a full disk falls back to plain writes; its files are private (R18.3)."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from torouter.usage.journal import SEGMENT_BYTES, Journal


def test_segments_are_0600_in_a_0700_folder_and_read_back(tmp_path: Path) -> None:
    old = os.umask(0o002)
    try:
        journal = Journal(tmp_path / "data" / "journal")
        journal.append({"admission_id": "a1", "cost_nusd": 5})
        journal.append({"admission_id": "a2", "cost_nusd": 7})
        segments = journal.rotate()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "data" / "journal").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert [stat.S_IMODE(p.stat().st_mode) for p in segments] == [0o600]
    assert [r["admission_id"] for r in Journal.read(segments)] == ["a1", "a2"]
    journal.close()


def _row(i: int) -> dict[str, object]:
    return {"admission_id": f"a{i}", "cost_nusd": i, "note": "é" * (i % 7) + "x" * 300}


def test_rows_kept_by_a_process_killed_without_closing_its_segment(tmp_path: Path) -> None:
    """R11.2: a row copied into the mapped segment is the kernel's once `append` returns, even
    if the process dies by SIGKILL the next instant; the segment's unwritten tail is skipped."""
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from torouter.usage.journal import Journal\n"
        "j = Journal(Path(sys.argv[1]))\n"
        "for i in range(600):\n"
        "    j.append({'admission_id': f'a{i}', 'cost_nusd': i, 'pad': 'x' * 600})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "j")], check=False)
    assert done.returncode == -signal.SIGKILL
    segments = sorted((tmp_path / "j").glob("usage-*.jsonl"))
    assert len(segments) >= 2  # 600 rows fill more than one segment
    assert segments[-1].stat().st_size == SEGMENT_BYTES  # never closed: the zero tail is there
    rows = list(Journal.read(segments))
    assert [r["admission_id"] for r in rows] == [f"a{i}" for i in range(600)]


def test_a_torn_last_row_is_skipped(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j")
    journal.append(_row(1))
    journal.append(_row(2))
    path = sorted((tmp_path / "j").glob("usage-*.jsonl"))[0]
    with path.open("r+b") as fh:  # a copy cut short by the kill: part of a line, then zeros
        fh.seek(sum(len(orjson.dumps(_row(i))) + 1 for i in (1, 2)))
        fh.write(b'{"admission_id":"a3","co')
    assert [r["admission_id"] for r in Journal.read([path])] == ["a1", "a2"]
    journal.close()


def test_segments_are_cut_to_their_rows_and_read_back_in_order(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j")
    lines = [orjson.dumps(_row(i), option=orjson.OPT_APPEND_NEWLINE) for i in range(3_000)]
    for i in range(3_000):
        journal.append(_row(i))  # type: ignore[arg-type]
    big = {"admission_id": "big", "blob": "x" * (SEGMENT_BYTES + 10)}
    journal.append(big)  # type: ignore[arg-type]  # a row larger than a segment: its own
    segments = journal.rotate()
    assert len(segments) > 3
    assert sum(p.stat().st_size for p in segments) == sum(map(len, lines)) + len(
        orjson.dumps(big, option=orjson.OPT_APPEND_NEWLINE)
    )
    rows = list(Journal.read(segments))
    assert [r["admission_id"] for r in rows] == [f"a{i}" for i in range(3_000)] + ["big"]
    journal.append(_row(1))  # type: ignore[arg-type]  # after a rotation: a new segment
    assert len(journal.rotate()) == len(segments) + 1
    journal.close()


def test_without_reserved_space_rows_are_written_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A disk that cannot reserve a segment (full, or no fallocate) gets one `write` per row,
    never a mapping whose writes could fault (SIGBUS); a warning says so once."""

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    journal = Journal(tmp_path / "j")
    for i in range(3):
        journal.append(_row(i))  # type: ignore[arg-type]
    first = journal.rotate()
    journal.append(_row(3))  # type: ignore[arg-type]
    segments = journal.rotate()
    assert [r["admission_id"] for r in Journal.read(segments)] == ["a0", "a1", "a2", "a3"]
    assert first[0].stat().st_size == sum(
        len(orjson.dumps(_row(i), option=orjson.OPT_APPEND_NEWLINE)) for i in range(3)
    )
    assert [r.message for r in caplog.records].count(
        "usage journal segment not mapped ([Errno 28] No space left on device); "
        "appending with write()"
    ) == 1
    journal.close()
