"""The translated outputs, read by the older SDK majors still in use (openai 1.x, anthropic 0.x
as in Claude Code, google-genai 1.x), each in its own venv via `sdk_reader.py`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.protocols.harness import (
    INPUT_ESTIMATE,
    MODEL,
    MODULES,
    Summary,
    assert_same,
    decode_all,
    encoder,
    pair_params,
    parse,
    summarize_events,
    summarize_response,
)
from torouter.protocols.internal import Usage, UsageEvent
from torouter.protocols.usage import from_anthropic, from_gemini, from_openai

REPO = Path(__file__).resolve().parents[2]
READER = Path(__file__).with_name("sdk_reader.py")
VENVS = {"openai": "openai1", "anthropic": "anthropic0", "gemini": "genai1"}
USAGE = {"openai": from_openai, "anthropic": from_anthropic, "gemini": from_gemini}


def _items(front: str) -> list[tuple[dict[str, Any], Summary, str | None]]:
    """(request to the reader, expected summary, stop sequence) for every translation."""
    out = []
    for p in pair_params(stream=True) + pair_params(stream=False):
        case, to = p.values
        if case is None or to != front or p.marks:
            continue
        if case["stream"]:
            events = decode_all(case)
            want = summarize_events(events)
            if not any(isinstance(ev, UsageEvent) for ev in events):
                want.usage = Usage(input=INPUT_ESTIMATE)
            body, stop_sequence = encoder(front).encode(events), None
        else:
            resp = parse(case)
            want = summarize_response(resp)
            body = orjson.dumps(MODULES[front].render_response(resp, model=MODEL))
            stop_sequence = resp.stop_sequence
        item = {"front": front, "stream": case["stream"], "body": body.decode(), "id": case["id"]}
        out.append((item, want, stop_sequence))
    return out


@pytest.mark.parametrize("front", list(VENVS))
def test_older_sdk_major_reads_translations(front: str) -> None:
    python = REPO / ".venvs" / VENVS[front] / "bin" / "python"
    if not python.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{python} missing (scripts/setup.sh --test installs it)")
        pytest.skip(f"{VENVS[front]} venv not installed")
    items = _items(front)
    proc = subprocess.run(
        [str(python), str(READER)],
        input=json.dumps([i for i, _, _ in items]),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout)
    assert len(results) == len(items)
    for (item, want, stop_sequence), got in zip(items, results, strict=True):
        if want.error is not None:
            assert want.error in got.get("error", ""), item["id"]
            continue
        assert "error" not in got, (item["id"], got)
        summary = Summary(
            text=got["text"],
            thinking=got["thinking"],
            tool_calls=[tuple(c) for c in got["tool_calls"]],
            stop=got["stop"],
            usage=USAGE[front](got["usage"] or {}),
        )
        assert_same(front, summary, want, stop_sequence)
