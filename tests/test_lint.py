"""`ruff check` and `ruff format --check` are clean (issue 3, item 1)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "args",
    [["check", "torouter", "tests", "bench"], ["format", "--check", "torouter", "tests", "bench"]],
)
def test_ruff(args: list[str]) -> None:
    ruff = Path(sys.executable).parent / "ruff"
    out = subprocess.run([str(ruff), *args], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_import_creates_nothing() -> None:
    """No import-time side effects: importing the app module builds no app, pool or task."""
    code = (
        "import asyncio, threading, torouter.app, torouter.cli, torouter.gateway.entry;"
        "assert threading.active_count() == 1"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
