"""Access to the recorded real provider traffic (../shared/fixtures/recorded), read in place.

The folder is overridable with TOROUTER_RECORDED_DIR. Where it is absent, tests skip with a
reason, except under CI (`CI=true`), where its absence fails.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

__all__ = ["recorded_cases", "recorded_dir"]

_DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "recorded"


def recorded_dir() -> Path | None:
    path = Path(os.environ.get("TOROUTER_RECORDED_DIR") or _DEFAULT)
    if (path / "index.json").exists():
        return path
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"recorded fixtures missing at {path} (required under CI)")
    return None


def recorded_cases(**match: Any) -> list[Any]:
    """pytest params of every case whose index entry matches, e.g. provider="openai"."""
    base = recorded_dir()
    if base is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason="recorded fixtures absent"))]
    index = json.loads((base / "index.json").read_text())["cases"]
    out = []
    for entry in index:
        if all(entry.get(k) == v for k, v in match.items()):
            case = json.loads((base / entry["file"]).read_text())
            out.append(pytest.param(case, id=case["id"]))
    return out
