"""Response mappings not covered by recordings: R5.5 stop-reason tables, R10.2 usage blocks,
stop sequences, blocked prompts; the count_tokens helpers (R5.2, R10.7); the module surface."""

from __future__ import annotations

from typing import Any

import pytest

from torouter.protocols import anthropic, count_tokens, gemini, openai_chat, translate
from torouter.protocols.internal import (
    ImagePart,
    Message,
    Request,
    Response,
    TextPart,
    ToolCallPart,
    Usage,
)
from torouter.protocols.usage import from_anthropic, from_gemini, from_openai

# R5.5, internal → each protocol
STOP_TABLE = {
    "end": ("stop", "end_turn", "STOP"),
    "length": ("length", "max_tokens", "MAX_TOKENS"),
    "tool_call": ("tool_calls", "tool_use", "STOP"),
    "filtered": ("content_filter", "refusal", "SAFETY"),
}


@pytest.mark.parametrize("stop", list(STOP_TABLE))
def test_stop_reason_tables(stop: Any) -> None:
    assert (
        openai_chat.STOP_REASONS[stop],
        anthropic.STOP_REASONS[stop],
        gemini.STOP_REASONS[stop],
    ) == STOP_TABLE[stop]


@pytest.mark.parametrize(
    ("raw", "internal"),
    [
        ("end_turn", "end"),
        ("stop_sequence", "end"),
        ("pause_turn", "end"),
        ("max_tokens", "length"),
        ("tool_use", "tool_call"),
        ("refusal", "filtered"),
    ],
)
def test_anthropic_stop_reasons_in(raw: str, internal: str) -> None:
    body = {"id": "m", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]}
    assert anthropic.parse_response({**body, "stop_reason": raw}).stop_reason == internal


@pytest.mark.parametrize(
    ("raw", "internal"),
    [("STOP", "end"), ("MAX_TOKENS", "length")]
    + [
        (r, "filtered") for r in ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII")
    ],
)
def test_gemini_stop_reasons_in(raw: str, internal: str) -> None:
    body = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": raw}]}
    resp = gemini.parse_response(body)
    assert resp.stop_reason == internal and resp.stop_raw == raw
    if internal == "filtered":  # Gemini's own reason survives to Gemini callers
        assert gemini.render_response(resp, model="g")["candidates"][0]["finishReason"] == raw


def test_gemini_tool_call_stop_is_stop() -> None:
    body = {
        "candidates": [
            {"content": {"parts": [{"functionCall": {"name": "f"}}]}, "finishReason": "STOP"}
        ]
    }
    resp = gemini.parse_response(body)
    assert resp.stop_reason == "tool_call"
    assert (
        openai_chat.render_response(resp, model="m")["choices"][0]["finish_reason"] == "tool_calls"
    )


def test_blocked_prompt_is_filtered() -> None:
    resp = gemini.parse_response({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})
    assert (resp.stop_reason, resp.stop_raw, resp.parts) == ("filtered", "PROHIBITED_CONTENT", [])
    body = openai_chat.render_response(resp, model="m")
    assert body["choices"][0] == {
        "index": 0,
        "message": {"role": "assistant", "content": "", "refusal": None},
        "logprobs": None,
        "finish_reason": "content_filter",
    }
    assert anthropic.render_response(resp, model="m")["stop_reason"] == "refusal"


def test_stop_sequence_reaches_anthropic_callers_only() -> None:
    resp = Response("r", "m", [TextPart("The capital is ")], "end", "stop_sequence", "Paris")
    assert anthropic.render_response(resp, model="c")["stop_reason"] == "stop_sequence"
    assert anthropic.render_response(resp, model="c")["stop_sequence"] == "Paris"
    assert openai_chat.render_response(resp, model="o")["choices"][0]["finish_reason"] == "stop"


USAGE = Usage(input=100, cache_read=30, cache_write_5m=7, cache_write_1h=3, output=50, reasoning=20)


def test_usage_blocks_normalise_back() -> None:
    """R10.2 round trips, as far as each protocol can express the figures."""
    assert from_anthropic(anthropic.usage_json(USAGE)) == Usage(100, 30, 7, 3, 50)
    assert from_openai(openai_chat.usage_json(USAGE)) == Usage(110, 30, 0, 0, 50, 20)
    assert from_gemini(gemini.usage_json(USAGE)) == Usage(110, 30, 0, 0, 50, 20)
    assert USAGE.total_tokens == Usage(110, 30, 0, 0, 50, 20).total_tokens


def test_render_ids_and_models() -> None:
    resp = Response("gen-1", "upstream-x", [ToolCallPart("c1", "f", '{"a": 1}')], "tool_call")
    resp.created = 1700000000
    o = openai_chat.render_response(resp, model="public")
    assert (o["id"], o["model"], o["created"]) == ("gen-1", "public", 1700000000)
    assert o["choices"][0]["message"]["content"] is None
    a = anthropic.render_response(resp, model="public")
    assert a["content"] == [{"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}}]
    g = gemini.render_response(resp, model="public")
    assert g["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"id": "c1", "name": "f", "args": {"a": 1}}}
    ]
    assert (g["modelVersion"], g["responseId"]) == ("public", "gen-1")


# ── count_tokens ────────────────────────────────────────────────────────────────────────────

COUNT_BODY = {
    "model": "claude-x",
    "system": "Be brief.",
    "messages": [{"role": "user", "content": "What is 2 + 2?"}],
    "tools": [{"name": "calc", "input_schema": {"type": "object"}}],
}


def test_anthropic_count_tokens_to_gemini_and_back() -> None:
    body = count_tokens.anthropic_to_gemini(COUNT_BODY, upstream_model="gemini-x")
    assert body == {
        "generateContentRequest": {
            "model": "models/gemini-x",
            "contents": [{"role": "user", "parts": [{"text": "What is 2 + 2?"}]}],
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "tools": [
                {
                    "functionDeclarations": [
                        {"name": "calc", "parametersJsonSchema": {"type": "object"}}
                    ]
                }
            ],
        }
    }
    assert count_tokens.anthropic_response_from_gemini({"totalTokens": 12}) == {"input_tokens": 12}


def test_gemini_count_tokens_to_anthropic_and_back() -> None:
    for body in (
        {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]},
        {
            "generateContentRequest": {
                "model": "models/g",
                "contents": [{"parts": [{"text": "hello"}]}],
            }
        },
    ):
        out = count_tokens.gemini_to_anthropic(body, upstream_model="claude-x")
        assert out == {
            "model": "claude-x",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
        }
    assert count_tokens.gemini_response_from_anthropic({"input_tokens": 16}) == {"totalTokens": 16}


def test_local_estimate() -> None:
    req = Request(
        "m",
        system=[TextPart("abcd")],
        messages=[Message("user", [TextPart("héllo"), ImagePart(data="AAAA" * 1000)])],
    )
    assert count_tokens.estimate(req) == 3 + 1600  # ceil(10 bytes / 4) + one image
    assert count_tokens.estimate(count_tokens.parse_anthropic(COUNT_BODY)) > 0


def test_module_surface() -> None:
    for mod in set(translate.FRONT.values()) | set(translate.UPSTREAM.values()):
        for name in (
            "parse_request",
            "render_request",
            "parse_response",
            "render_response",
            "StreamDecoder",
            "StreamEncoder",
            "STOP_REASONS",
            "STOP_REASONS_IN",
            "usage_from",
            "usage_json",
            "in_stream_error",
        ):
            assert name in mod.__all__ and getattr(mod, name) is not None, (mod, name)
    assert translate.UPSTREAM["openrouter"] is openai_chat
    # the pass-through helpers the gateway already uses stay where they were
    for name in ("usage_of_body", "string_chars", "scan_stream", "in_stream_error", "DONE"):
        assert hasattr(openai_chat, name)
