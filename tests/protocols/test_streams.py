"""Stream decoders and encoders on hand-made events: the R4.2/R4.4/R4.5 shapes, R4.6 errors,
R4.10 bounds, and the SSE parser underneath."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from torouter.protocols import anthropic, gemini, openai_chat
from torouter.protocols.internal import (
    BlockStart,
    BlockStop,
    ErrorEvent,
    Event,
    Finish,
    SignatureDelta,
    Start,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCallStart,
    Usage,
    UsageEvent,
)
from torouter.protocols.sse import EventTooLarge, SSEEvent, SSEParser

USAGE = Usage(input=10, cache_read=5, cache_write_5m=2, output=20, reasoning=8)
EVENTS: list[Event] = [
    Start("id1", "up-model"),
    UsageEvent(Usage(input=10)),
    BlockStart(0, "thinking"),
    ThinkingDelta(0, "plan"),
    SignatureDelta(0, "SIG"),
    BlockStop(0),
    BlockStart(1, "text"),
    TextDelta(1, "Hello"),
    BlockStop(1),
    ToolCallStart(2, "call_a", "f"),
    ToolArgsDelta(2, '{"x":'),
    ToolArgsDelta(2, "1}"),
    BlockStop(2),
    ToolCallStart(3, "call_b", "g"),
    ToolArgsDelta(3, "{}"),
    BlockStop(3),
    UsageEvent(USAGE),
    Finish("tool_call", "tool_use"),
]


def sse_events(raw: bytes) -> list[tuple[str | None, Any]]:
    p = SSEParser()
    return [(e.event, orjson.loads(e.data)) for e in p.feed(raw) + p.flush() if e.data != b"[DONE]"]


def test_openai_encoder_shape() -> None:
    raw = openai_chat.StreamEncoder("pub", include_usage=True).encode(EVENTS)
    assert raw.endswith(b"data: [DONE]\n\n") and b"event:" not in raw
    chunks = [d for _, d in sse_events(raw)]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert deltas[1] == {"reasoning_content": "plan"}
    assert deltas[2] == {"content": "Hello"}
    assert deltas[3]["tool_calls"] == [
        {"index": 0, "id": "call_a", "type": "function", "function": {"name": "f", "arguments": ""}}
    ]
    assert deltas[4]["tool_calls"] == [{"index": 0, "function": {"arguments": '{"x":'}}]
    assert deltas[6]["tool_calls"][0]["index"] == 1
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {
        "prompt_tokens": 17,
        "completion_tokens": 20,
        "total_tokens": 37,
        "prompt_tokens_details": {"cached_tokens": 5},
        "completion_tokens_details": {"reasoning_tokens": 8},
    }
    assert all(c["model"] == "pub" and c["id"] == "id1" for c in chunks)
    quiet = openai_chat.StreamEncoder("pub").encode(EVENTS)
    assert b'"choices":[]' not in quiet and quiet.endswith(b"data: [DONE]\n\n")  # R4.2


def test_anthropic_encoder_shape() -> None:
    raw = anthropic.StreamEncoder("pub", input_estimate=42).encode(EVENTS)
    events = sse_events(raw)
    assert all(name == data["type"] for name, data in events)  # R4.4: event: line = type
    names = [n for n, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert names.count("ping") == 1 and names.index("ping") == 2
    start = events[0][1]["message"]
    assert (
        start["content"] == [] and start["usage"]["input_tokens"] == 42 and start["model"] == "pub"
    )
    blocks = [d for n, d in events if n == "content_block_start"]
    assert [b["index"] for b in blocks] == [0, 1, 2, 3]
    assert [b["content_block"]["type"] for b in blocks] == [
        "thinking",
        "text",
        "tool_use",
        "tool_use",
    ]
    # never interleaved: every block stops before the next starts
    open_: int | None = None
    for n, d in events:
        if n == "content_block_start":
            assert open_ is None
            open_ = d["index"]
        elif n == "content_block_delta":
            assert d["index"] == open_
        elif n == "content_block_stop":
            assert d["index"] == open_
            open_ = None
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert delta["usage"] == {
        "input_tokens": 10,
        "cache_creation_input_tokens": 2,
        "cache_read_input_tokens": 5,
        "output_tokens": 20,
    }


def test_anthropic_encoder_stop_sequence() -> None:
    raw = anthropic.StreamEncoder("m").encode(
        [Start("i", "m"), Finish("end", "stop_sequence", "Paris")]
    )
    delta = next(d for n, d in sse_events(raw) if n == "message_delta")
    assert delta["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "Paris"}


def test_gemini_encoder_shape() -> None:
    raw = gemini.StreamEncoder("pub", input_estimate=3).encode(EVENTS)
    assert raw.count(b"\r\n\r\n") == raw.count(b"data: ") and b"event:" not in raw
    objs = [d for _, d in sse_events(raw)]
    parts = [p for o in objs for p in o["candidates"][0]["content"]["parts"]]
    assert parts == [
        {"text": "plan", "thought": True},
        {"text": "Hello", "thoughtSignature": "SIG"},
        {"functionCall": {"id": "call_a", "name": "f", "args": {"x": 1}}},  # held until stop
        {"functionCall": {"id": "call_b", "name": "g", "args": {}}},
        {"text": ""},
    ]
    assert all(o["candidates"][0]["content"]["role"] == "model" for o in objs)
    assert all(o["modelVersion"] == "pub" and o["responseId"] == "id1" for o in objs)
    assert [o["candidates"][0].get("finishReason") for o in objs][-1] == "STOP"
    assert objs[0]["usageMetadata"] == {
        "promptTokenCount": 10,
        "candidatesTokenCount": 0,
        "totalTokenCount": 10,
    }
    assert objs[-1]["usageMetadata"] == {
        "promptTokenCount": 17,
        "candidatesTokenCount": 12,
        "totalTokenCount": 37,
        "cachedContentTokenCount": 5,
        "thoughtsTokenCount": 8,
    }


def test_gemini_encoder_json_array_mode() -> None:
    raw = gemini.StreamEncoder("m", sse=False).encode(EVENTS)
    assert raw.startswith(b"[{") and raw.endswith(b"]")
    assert len(orjson.loads(raw)) == 5


def test_gemini_encoder_bounds_held_arguments() -> None:
    enc = gemini.StreamEncoder("m", max_args_bytes=8)
    out = enc.encode(
        [Start("i", "m"), ToolCallStart(0, "c", "f"), ToolArgsDelta(0, '{"a":"0123456789"}')]
    )
    assert orjson.loads(out.removeprefix(b"data: "))["error"]["code"] == 502
    assert enc.encode([BlockStop(0), Finish("end")]) == b""


@pytest.mark.parametrize(
    ("mod", "expected"),
    [
        (
            openai_chat,
            b'data: {"error":{"message":"stalled","type":"UPSTREAM_TIMEOUT","param":null,'
            b'"code":"UPSTREAM_TIMEOUT"}}\n\ndata: [DONE]\n\n',
        ),
        (
            anthropic,
            b'event: error\ndata: {"type":"error","error":{"type":"UPSTREAM_TIMEOUT",'
            b'"message":"stalled"}}\n\n',
        ),
        (
            gemini,
            b'data: {"error":{"code":504,"message":"stalled",'
            b'"status":"DEADLINE_EXCEEDED"}}\r\n\r\n',
        ),
    ],
)
def test_in_stream_errors(mod: Any, expected: bytes) -> None:
    """R4.6: one event, then the stream ends."""
    enc = mod.StreamEncoder("m")
    assert enc.error("stalled", "UPSTREAM_TIMEOUT", "UPSTREAM_TIMEOUT") == expected
    assert enc.encode([ErrorEvent("stalled", "UPSTREAM_TIMEOUT", "UPSTREAM_TIMEOUT")]).startswith(
        expected.split(b"\n")[0]
    )
    assert enc.encode([TextDelta(0, "late")]) == b""


# ── decoders ────────────────────────────────────────────────────────────────────────────────


def test_anthropic_decoder_json_tool_streams_as_text_and_skips_server_tools() -> None:
    raw = b"".join(
        b"event: %s\ndata: %s\n\n" % (d["type"].encode(), orjson.dumps(d))
        for d in [
            {
                "type": "message_start",
                "message": {"id": "m1", "model": "c", "usage": {"input_tokens": 5}},
            },
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "server_tool_use", "id": "s", "name": "x", "input": {}},
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": "{}"},
            },
            {"type": "content_block_stop", "index": 0},
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {
                    "type": "tool_use",
                    "id": "t",
                    "name": "json_response",
                    "input": {},
                },
            },
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '{"a":'},
            },
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": "1}"},
            },
            {"type": "content_block_stop", "index": 1},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use"},
                "usage": {"output_tokens": 9},
            },
            {"type": "message_stop"},
        ]
    )
    dec = anthropic.StreamDecoder()
    events = dec.decode(raw) + dec.flush()
    assert events[2:6] == [
        BlockStart(0, "text"),
        TextDelta(0, '{"a":'),
        TextDelta(0, "1}"),
        BlockStop(0),
    ]
    assert events[-1] == Finish("end", "tool_use")
    assert events[-2] == UsageEvent(Usage(input=5, output=9))


@pytest.mark.parametrize("mod", [openai_chat, anthropic, gemini])
def test_decoders_report_malformed_data(mod: Any) -> None:
    dec = mod.StreamDecoder()
    events = dec.decode(b"data: {not json\n\n")
    assert events == [
        ErrorEvent("malformed upstream event", "upstream_unavailable", "upstream_unavailable")
    ]
    assert dec.decode(b'data: {"x":1}\n\n') == [] and dec.flush() == []


@pytest.mark.parametrize("mod", [openai_chat, anthropic, gemini])
def test_decoders_bound_one_event(mod: Any) -> None:
    dec = mod.StreamDecoder(max_event_bytes=64)
    events = dec.decode(b"data: " + b"x" * 100)
    assert [type(e) for e in events] == [ErrorEvent] and events[0].code == "upstream_unavailable"


def test_truncated_streams_do_not_finish() -> None:
    """A stream cut before its end has no Finish: the relay reports the cut (R4.6)."""
    dec = openai_chat.StreamDecoder()
    events = dec.decode(b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n')
    assert [type(e) for e in events + dec.flush()] == [Start, BlockStart, TextDelta]
    gem = gemini.StreamDecoder()
    gem.decode(b'data: {"candidates":[{"content":{"parts":[{"text":"a"}]}}]}\r\n\r\n')
    assert gem.flush() == []


def test_gemini_decoder_upstream_error_and_blocked_prompt() -> None:
    dec = gemini.StreamDecoder()
    events = dec.decode(
        b'data: {"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}\r\n\r\n'
    )
    assert events == [ErrorEvent("slow down", "RESOURCE_EXHAUSTED", "429")]
    dec = gemini.StreamDecoder()
    events = dec.decode(
        b'data: {"promptFeedback":{"blockReason":"SAFETY"},"responseId":"r"}\r\n\r\n'
    )
    assert events + dec.flush() == [Start("r", ""), Finish("filtered", "SAFETY")]


def test_openai_decoder_openrouter_reasoning_and_signature() -> None:
    raw = (
        b'data: {"id":"g","model":"m","choices":[{"index":0,"delta":{"reasoning":"r1",'
        b'"reasoning_details":[{"type":"reasoning.text","signature":"S"}]}}]}\n\n'
        b'data: {"id":"g","choices":[{"index":0,"delta":{"content":"ok"},'
        b'"finish_reason":"stop"}]}\n\n'
        b"data: [DONE]\n\n"
    )
    dec = openai_chat.StreamDecoder()
    assert dec.decode(raw) == [
        Start("g", "m"),
        BlockStart(0, "thinking"),
        ThinkingDelta(0, "r1"),
        SignatureDelta(0, "S"),
        BlockStop(0),
        BlockStart(1, "text"),
        TextDelta(1, "ok"),
        BlockStop(1),
        Finish("end", "stop"),
    ]


# ── SSE parser ──────────────────────────────────────────────────────────────────────────────


def test_sse_parser_lines_comments_and_flush() -> None:
    p = SSEParser()
    assert p.feed(b": keep-alive\n\nevent: a\r\ndata: 1\r\ndata:2\r\n\r\nid: 5\nretry: 9\n") == [
        SSEEvent("a", b"1\n2")
    ]
    assert p.feed(b'data: {"x": 1}') == []
    assert p.flush() == [SSEEvent(None, b'{"x": 1}')]


def test_sse_parser_limit() -> None:
    p = SSEParser(max_event_bytes=10)
    with pytest.raises(EventTooLarge):
        p.feed(b"data: 123456\ndata: 123456\n")


def test_gemini_decoder_assembles_nested_partial_args() -> None:
    """Vertex `partialArgs`: strings append, other values set, `functionCall: {}` ends."""
    chunks = [
        {"functionCall": {"name": "f", "willContinue": True}},
        {
            "functionCall": {
                "partialArgs": [{"jsonPath": "$.a.b", "stringValue": "x"}],
                "willContinue": True,
            }
        },
        {
            "functionCall": {
                "partialArgs": [{"jsonPath": "$.a.b", "stringValue": "y"}],
                "willContinue": True,
            }
        },
        {
            "functionCall": {
                "partialArgs": [{"jsonPath": "$.n[1]", "numberValue": 2}],
                "willContinue": True,
            }
        },
        {
            "functionCall": {
                "partialArgs": [{"jsonPath": "$.ok", "boolValue": True}],
                "willContinue": True,
            }
        },
        {"functionCall": {}},
    ]
    raw = b"".join(
        b"data: " + orjson.dumps({"candidates": [{"content": {"parts": [c]}}]}) + b"\r\n\r\n"
        for c in chunks
    )
    dec = gemini.StreamDecoder()
    events = dec.decode(raw)
    args = [e for e in events if isinstance(e, ToolArgsDelta)]
    assert len(args) == 1
    assert orjson.loads(args[0].json) == {"a": {"b": "xy"}, "n": [None, 2], "ok": True}
    assert isinstance(events[-1], BlockStop)
