"""mypy, strict, on the whole package (issue 13, item 6).

Every module of `torouter/` is checked, the composition root (`app.py`) included. The
incremental cache lives in the run directory, so a rerun takes seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _mypy(*extra: str) -> subprocess.CompletedProcess[str]:
    mypy = Path(sys.executable).parent / "mypy"
    return subprocess.run(
        [str(mypy), *extra, "-p", "torouter"], cwd=REPO, capture_output=True, text=True, timeout=900
    )


def test_mypy_strict() -> None:
    run_dir = Path(os.environ.get("TOROUTER_RUN_DIR") or REPO / ".run")
    out = _mypy("--cache-dir", str(run_dir / "mypy"))
    if out.returncode == 1:
        # mypy's incremental cache can keep a module's old interface after an edit is undone
        # (seen with modules checked against a Protocol); only a clean run's errors count.
        out = _mypy("--no-incremental", "--cache-dir", os.devnull)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_codec_that_drifts_from_the_protocol_fails() -> None:
    """The translation table's `Codec` type bites: a module whose decoder lost `flush` and
    whose `render_response` renamed its keyword is refused; the real codecs pass. The case
    lives at a fixed path in the run directory, so mypy's cache for it stays valid."""
    run_dir = Path(os.environ.get("TOROUTER_RUN_DIR") or REPO / ".run")
    case = run_dir / "mypy-codec-case"
    case.mkdir(parents=True, exist_ok=True)
    (case / "drifted.pyi").write_text(  # a stub: bodies may be `...`
        "from typing import Any\n"
        "from torouter.protocols.internal import Event, Request, Response\n"
        "def parse_request(body: dict[str, Any]) -> Request: ...\n"
        "def render_request(req: Request, *, upstream_model: str) -> dict[str, Any]: ...\n"
        "def parse_response(body: dict[str, Any], *, rng: Any = None) -> Response: ...\n"
        "def render_response(resp: Response, *, model_id: str) -> dict[str, Any]: ...\n"
        "class StreamDecoder:\n"
        "    def decode(self, chunk: bytes) -> list[Event]: ...\n"
        "class StreamEncoder:\n"
        "    def __init__(self, model: str, *, include_usage: bool = False,\n"
        "                 input_estimate: int = 0) -> None: ...\n"
        "    def encode(self, events: list[Event]) -> bytes: ...\n"
        "    def error(self, message: str, type_: str, code: str) -> bytes: ...\n"
    )
    (case / "table.py").write_text(
        "import drifted\n"
        "from torouter.protocols import anthropic, gemini\n"
        "from torouter.protocols.codec import Codec\n"
        "good: list[Codec] = [anthropic, gemini]\n"
        "bad: Codec = drifted\n"
    )
    mypy = Path(sys.executable).parent / "mypy"
    out = subprocess.run(
        [str(mypy), "--cache-dir", str(run_dir / "mypy-codec"), "table.py"],
        cwd=case,
        env={**os.environ, "MYPYPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    errors = [line for line in out.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and errors[0].startswith("table.py:5:"), out.stdout + out.stderr
    assert "def StreamDecoder() -> Decoder" in out.stdout, out.stdout  # flush is missing
    assert "model_id: str" in out.stdout, out.stdout
