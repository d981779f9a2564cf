"""Shared helpers for the translation tests: recorded chat cases, decoding, golden files.

Golden files live in `tests/golden/<from>_to_<to>/`. A normal run compares; `UPDATE_GOLDEN=1`
rewrites them (review the diff before committing).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

from tests.recorded import recorded_dir
from torouter.protocols import anthropic, gemini, openai_chat
from torouter.protocols.internal import (
    ErrorEvent,
    Event,
    Finish,
    Response,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolArgsDelta,
    ToolCallPart,
    ToolCallStart,
    Usage,
    UsageEvent,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

PROTOCOL = {
    "openai": "openai",
    "openai-compatible": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
}
MODULES: dict[str, ModuleType] = {"openai": openai_chat, "anthropic": anthropic, "gemini": gemini}
# R5.2: the front doors each upstream protocol is translated to.
FRONTS = {
    "openai": ("anthropic", "gemini"),
    "anthropic": ("openai", "gemini"),
    "gemini": ("openai", "anthropic"),
}
CHAT_APIS = ("chat.completions", "messages", "generateContent", "streamGenerateContent")
# Recorded chat cases that hold no chat response (the cassette kept another interaction).
NOT_CHAT = {"gemini-generate-prompt-blocked": "the recorded interaction is an OAuth token call"}
MODEL = "test-model"
INPUT_ESTIMATE = 7


def _chat_cases() -> list[dict[str, Any]]:
    base = recorded_dir()
    if base is None:
        return []
    index = json.loads((base / "index.json").read_text())["cases"]
    out = []
    for entry in index:
        if entry["api"] not in CHAT_APIS:
            continue
        case = json.loads((base / entry["file"]).read_text())
        if case["response"]["status"] == 200:
            out.append(case)
    return out


CASES = _chat_cases()


def case_params(*, stream: bool | None = None) -> list[Any]:
    if not CASES:
        return [pytest.param(None, marks=pytest.mark.skip(reason="recorded fixtures absent"))]
    out = []
    for case in CASES:
        if stream is not None and case["stream"] != stream:
            continue
        marks = [pytest.mark.skip(reason=NOT_CHAT[case["id"]])] if case["id"] in NOT_CHAT else []
        out.append(pytest.param(case, id=case["id"], marks=marks))
    return out


def pair_params(*, stream: bool | None = None) -> list[Any]:
    """(case, front door) for every translation R5.2 allows."""
    out = []
    for p in case_params(stream=stream):
        case = p.values[0]
        if case is None:
            return [p]
        for front in FRONTS[PROTOCOL[case["provider"]]]:
            out.append(pytest.param(case, front, id=f"{case['id']}->{front}", marks=p.marks))
    return out


def upstream(case: dict[str, Any]) -> str:
    return PROTOCOL[case["provider"]]


def decoder(case: dict[str, Any]) -> Any:
    mod = MODULES[upstream(case)]
    if mod is anthropic:
        return mod.StreamDecoder()
    return mod.StreamDecoder(rng=random.Random(0))


def decode_chunks(case: dict[str, Any], chunks: list[bytes]) -> list[list[Event]]:
    """Events per decode call (the last list is `flush()`)."""
    dec = decoder(case)
    return [dec.decode(c) for c in chunks] + [dec.flush()]


def decode_all(case: dict[str, Any]) -> list[Event]:
    return [ev for batch in decode_chunks(case, [sse_bytes(case)]) for ev in batch]


def sse_bytes(case: dict[str, Any]) -> bytes:
    return case["response"]["sse"].encode()


def parse(case: dict[str, Any]) -> Response:
    mod = MODULES[upstream(case)]
    if mod is gemini:
        return gemini.parse_response(case["response"]["body"], rng=random.Random(0))
    return mod.parse_response(case["response"]["body"])


def encoder(front: str, *, include_usage: bool = True) -> Any:
    return MODULES[front].StreamEncoder(
        MODEL, include_usage=include_usage, input_estimate=INPUT_ESTIMATE
    )


# ── golden files ────────────────────────────────────────────────────────────────────────────


def to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        return {"type": type(obj).__name__, **fields}
    if isinstance(obj, msgspec.Struct):  # the per-event deltas
        fields = {name: to_jsonable(getattr(obj, name)) for name in obj.__struct_fields__}
        return {"type": type(obj).__name__, **fields}
    if isinstance(obj, list):
        return [to_jsonable(v) for v in obj]
    return obj


def check_golden(relative: str, text: str) -> None:
    path = GOLDEN / relative
    if UPDATE or not path.exists():
        if not UPDATE and os.environ.get("CI") == "true":
            pytest.fail(f"golden file {relative} is missing (run with UPDATE_GOLDEN=1)")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())  # bytes: Gemini's \r\n separators must survive
        return
    assert path.read_bytes().decode() == text, f"{relative} differs (UPDATE_GOLDEN=1 to accept)"


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


# ── what a client must see: a summary both sides can be reduced to ──────────────────────────


@dataclasses.dataclass
class Summary:
    text: str = ""
    thinking: str = ""
    tool_calls: list[tuple[str, str, Any]] = dataclasses.field(default_factory=list)
    stop: str | None = None
    usage: Usage = dataclasses.field(default_factory=Usage)
    error: str | None = None


def summarize_events(events: list[Event]) -> Summary:
    s = Summary()
    args: dict[int, list[str]] = {}
    calls: list[tuple[int, str, str]] = []
    for ev in events:
        if isinstance(ev, TextDelta):
            s.text += ev.text
        elif isinstance(ev, ThinkingDelta):
            s.thinking += ev.text
        elif isinstance(ev, ToolCallStart):
            calls.append((ev.index, ev.id, ev.name))
            args[ev.index] = []
        elif isinstance(ev, ToolArgsDelta):
            args[ev.index].append(ev.json)
        elif isinstance(ev, UsageEvent):
            s.usage = ev.usage
        elif isinstance(ev, Finish):
            s.stop = ev.stop_reason
        elif isinstance(ev, ErrorEvent):
            s.error = ev.message
    s.tool_calls = [(cid, name, json.loads("".join(args[i]) or "{}")) for i, cid, name in calls]
    return s


def summarize_response(resp: Response) -> Summary:
    return Summary(
        text="".join(p.text for p in resp.parts if isinstance(p, TextPart)),
        thinking="".join(p.text for p in resp.parts if isinstance(p, ThinkingPart)),
        tool_calls=[
            (p.id, p.name, json.loads(p.arguments or "{}"))
            for p in resp.parts
            if isinstance(p, ToolCallPart)
        ],
        stop=resp.stop_reason,
        usage=resp.usage,
    )


def norm_usage(front: str, u: Usage) -> tuple[int, ...]:
    """What each protocol can express: cache writes fold into input where it has no field."""
    writes = u.cache_write_5m + u.cache_write_1h
    if front == "anthropic":
        return (u.input, u.cache_read, writes, u.output)
    return (u.input + writes, u.cache_read, u.output, u.reasoning)


STOPS: dict[str, dict[Any, str]] = {
    "openai": openai_chat.STOP_REASONS,
    "anthropic": anthropic.STOP_REASONS,
    "gemini": gemini.STOP_REASONS,
}


def assert_same(front: str, got: Summary, want: Summary, stop_sequence: str | None) -> None:
    """What an SDK reported equals what the internal events or response said."""
    assert got.text == want.text
    if front != "gemini" or want.thinking:
        assert got.thinking == want.thinking
    assert [(n, a) for _, n, a in got.tool_calls] == [(n, a) for _, n, a in want.tool_calls]
    assert [i for i, _, _ in got.tool_calls] == [i for i, _, _ in want.tool_calls]
    assert want.stop is not None
    expected_stop = STOPS[front][want.stop]
    if front == "anthropic" and stop_sequence:
        expected_stop = "stop_sequence"
    assert got.stop == expected_stop
    assert norm_usage(front, got.usage) == norm_usage(front, want.usage)
