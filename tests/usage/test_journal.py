"""The usage journal's files are private (R18.3): rows name users, keys and costs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from torouter.usage.journal import Journal


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
