"""Interpreters holding each official SDK major (installed by scripts/setup.sh --test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SDK_DIR = Path(__file__).parent / "sdk"


def interpreter(venv: str | None) -> str:
    if venv is None:
        return sys.executable
    path = REPO / ".venvs" / venv / "bin" / "python"
    if not path.exists():
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"{path} missing: scripts/setup.sh --test installs it")
        pytest.skip(f"{venv} venv not installed (scripts/setup.sh --test)")
    return str(path)


def run_sdk(script: str, venv: str | None, spec: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [interpreter(venv), str(SDK_DIR / script), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


OPENAI_MAJORS = [pytest.param(None, id="openai-3.x"), pytest.param("openai1", id="openai-1.x")]
ANTHROPIC_MAJORS = [
    pytest.param(None, id="anthropic-2.x"),
    pytest.param("anthropic0", id="anthropic-0.x"),
]
GENAI_MAJORS = [pytest.param(None, id="genai-3.x"), pytest.param("genai1", id="genai-1.x")]
