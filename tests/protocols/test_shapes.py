"""Upstream answer shapes (SPEC R9.4): wrong JSON types where a codec reads are a broken
upstream (`UpstreamShapeError`, a `ValueError`), never the gateway's own `TypeError`."""

from __future__ import annotations

from typing import Any

import pytest

from torouter.protocols import anthropic, count_tokens, embeddings, gemini, openai_chat
from torouter.protocols import openai_responses as responses
from torouter.protocols.shapes import (
    JSON_NUMBER,
    Shape,
    UpstreamShapeError,
    answer,
    check,
    checker,
)
from torouter.protocols.usage import from_anthropic, from_openai

SHAPE: dict[str, Shape] = {"items": [{"n": JSON_NUMBER, "tags": [str]}], "meta": dict}

# The interpreted check and the compiled one (the streams' per-event check) agree on everything.
CHECKS = pytest.mark.parametrize(
    "run",
    [lambda value: check(value, SHAPE), checker(SHAPE)],
    ids=["check", "checker"],
)


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"items": None, "meta": None},  # null reads as absent
        {"items": [{"n": 1}, {"n": 2.5, "tags": ["a", None]}], "meta": {"x": [1]}},
        {"other": "not looked at", "items": []},
    ],
)
@CHECKS
def test_values_of_the_shape_pass(run: Any, value: Any) -> None:
    run(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "$ should be an object, not an array"),
        ({"items": "x"}, "$.items should be an array, not a string"),
        ({"items": [5]}, "$.items[0] should be an object, not an integer"),
        ({"items": [{"n": "1"}]}, "$.items[0].n should be an integer or a number, not a string"),
        ({"items": [{"tags": ["a", 1]}]}, "$.items[0].tags[1] should be a string, not an integer"),
        ({"meta": True}, "$.meta should be an object, not a boolean"),
    ],
)
@CHECKS
def test_the_first_wrong_type_is_named_by_its_path(run: Any, value: Any, message: str) -> None:
    with pytest.raises(UpstreamShapeError) as info:
        run(value)
    assert str(info.value) == f"upstream answer: {message}"
    assert isinstance(info.value, ValueError)  # what the relay fails over on


@CHECKS
def test_the_first_key_in_the_shape_s_order_is_named(run: Any) -> None:
    """A nested key before a leaf key: both checks walk the shape in its own order."""
    with pytest.raises(UpstreamShapeError, match=r"\$\.items should be an array"):
        run({"meta": 1, "items": 1})
    with pytest.raises(UpstreamShapeError, match=r"\$\.meta should be an object"):
        checker({"meta": dict, "items": [dict]})({"items": 1, "meta": 1})


def test_an_answer_must_be_an_object_even_null_is_refused() -> None:
    for body in (None, [], "x", 3):
        with pytest.raises(UpstreamShapeError):
            answer(body, {})
    assert answer({"a": 1}, {"a": int}) == {"a": 1}


# Each codec's whole-answer reader, on bodies that used to raise TypeError, KeyError or
# AttributeError (or a client's 400 for an upstream's content) inside it.
BROKEN: list[tuple[Any, dict[str, Any]]] = [
    (openai_chat, {"choices": "x"}),
    (openai_chat, {"choices": {"a": 1}}),
    (openai_chat, {"choices": [{"message": 5}]}),
    (openai_chat, {"choices": [{"message": {"content": 5}}]}),
    (openai_chat, {"choices": [{"message": {"tool_calls": 5}}]}),
    (openai_chat, {"choices": [{"message": {"tool_calls": [{"function": "f"}]}}]}),
    (openai_chat, {"choices": [{"finish_reason": ["stop"]}]}),
    (openai_chat, {"created": [1]}),
    (openai_chat, {"usage": []}),
    (openai_chat, {"usage": {"prompt_tokens_details": 5}}),
    (anthropic, {"content": 5}),
    (anthropic, {"usage": "x"}),
    (anthropic, {"usage": {"cache_creation": [1]}}),
    (gemini, {"candidates": 5}),
    (gemini, {"candidates": [{"content": "x"}]}),
    (gemini, {"candidates": [{"content": {"parts": True}}]}),
    (gemini, {"promptFeedback": [1]}),
    (gemini, {"usageMetadata": []}),
    (responses, {"output": 5}),
    (responses, {"output": [{"type": "message", "content": 5}]}),
    (responses, {"output": [{"type": "reasoning", "summary": True}]}),
    (responses, {"usage": {"input_tokens_details": "x"}}),
]


@pytest.mark.parametrize(("codec", "body"), BROKEN)
def test_codecs_refuse_wrong_typed_answers(codec: Any, body: dict[str, Any]) -> None:
    with pytest.raises(UpstreamShapeError):
        codec.parse_response(body)


def test_other_answer_readers_refuse_wrong_types() -> None:
    with pytest.raises(UpstreamShapeError):
        count_tokens.anthropic_response_from_gemini({"totalTokens": [1]})
    with pytest.raises(UpstreamShapeError):
        count_tokens.gemini_response_from_anthropic([])  # type: ignore[arg-type]  # upstream JSON
    with pytest.raises(UpstreamShapeError):
        embeddings.gemini_response({"data": [{"index": [0], "embedding": [1.0]}]}, batch=True)
    with pytest.raises(UpstreamShapeError):
        from_openai({"completion_tokens_details": [1]})
    with pytest.raises(UpstreamShapeError):
        from_anthropic({"cache_creation": "x"})


def test_well_typed_answers_still_read_as_before() -> None:
    resp = openai_chat.parse_response(
        {
            "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "prompt_tokens_details": None},
            "created": 5,
        }
    )
    assert resp.usage.output == 1 and resp.created == 5
    assert gemini.parse_response({"candidates": [{}], "usageMetadata": None}).parts == []


# A streamed event of the wrong types ends the translated stream like an event that is not
# JSON: one `upstream_unavailable` error event, never a `TypeError` mid-stream.
BROKEN_EVENTS: list[tuple[Any, bytes]] = [
    (openai_chat, b'data: {"choices":5}\n\n'),
    (openai_chat, b'data: {"choices":[{"delta":"x"}]}\n\n'),
    (openai_chat, b'data: {"choices":[{"delta":{"tool_calls":[{"function":5}]}}]}\n\n'),
    (openai_chat, b'data: {"choices":[{"delta":{"tool_calls":[{"index":[0]}]}}]}\n\n'),
    (openai_chat, b'data: {"choices":[],"usage":{"prompt_tokens_details":[1]}}\n\n'),
    (anthropic, b'event: message_start\ndata: {"type":"message_start","message":"x"}\n\n'),
    (anthropic, b'event: x\ndata: {"type":"content_block_start","index":0,"content_block":5}\n\n'),
    (anthropic, b'event: x\ndata: {"type":"content_block_stop","index":[0]}\n\n'),
    (anthropic, b'event: x\ndata: {"type":"message_delta","delta":{},"usage":[1]}\n\n'),
    (anthropic, b'event: error\ndata: {"type":"error","error":"x"}\n\n'),
    (gemini, b'data: {"candidates":5}\n\n'),
    (gemini, b'data: {"candidates":[{"content":{"parts":true}}]}\n\n'),
    (gemini, b'data: {"candidates":[{"content":{"parts":[{"functionCall":"f"}]}}]}\n\n'),
    (gemini, b'data: {"promptFeedback":[1]}\n\n'),
]


@pytest.mark.parametrize(("codec", "event"), BROKEN_EVENTS)
def test_stream_decoders_end_on_wrong_typed_events(codec: Any, event: bytes) -> None:
    events = codec.StreamDecoder().decode(event)
    errors = [e for e in events if type(e).__name__ == "ErrorEvent"]
    assert len(errors) == 1 and errors[0].type == "upstream_unavailable", events
