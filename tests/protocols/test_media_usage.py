"""Metering of the endpoints besides text generation (SPEC R10.3, R10.6), and the embeddings
translations between OpenAI and Gemini (R5.2). Pure functions."""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson
import pytest

from torouter.errors import GatewayError
from torouter.protocols import embeddings, media
from torouter.protocols.internal import Usage


def body(obj: Any) -> bytes:
    return orjson.dumps(obj)


@pytest.mark.parametrize(
    ("op", "answer", "usage"),
    [
        ("embeddings", {"usage": {"prompt_tokens": 7, "total_tokens": 7}}, Usage(input=7)),
        ("embeddings", {"data": []}, None),
        (
            "images",
            {"data": [{}, {}], "usage": {"input_tokens": 3, "output_tokens": 50}},
            Usage(input=3, output=50),
        ),
        ("images", {"data": [{"url": "u"}, {"url": "v"}, {"url": "w"}]}, Usage(images=3)),
        (
            "audio_transcription",
            {"text": "t", "usage": {"type": "duration", "seconds": 12}},
            Usage(audio_seconds=12.0),
        ),
        (
            "audio_transcription",
            {"text": "t", "usage": {"type": "tokens", "input_tokens": 9, "output_tokens": 4}},
            Usage(input=9, output=4),
        ),
        ("audio_transcription", {"text": "t", "duration": 8.5}, Usage(audio_seconds=8.5)),
        ("audio_transcription", {"text": "t"}, Usage()),
        ("rerank", {"usage": {"total_tokens": 11}}, Usage(input=11)),
        ("rerank", {"meta": {"billed_units": {"search_units": 1}}}, Usage()),
        ("rerank", {"meta": {"billed_units": {"input_tokens": 5}}}, Usage(input=5)),
        ("moderations", {"results": []}, Usage()),
        (
            "completions",
            {"usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}},
            Usage(input=2, output=3),
        ),
    ],
)
def test_body_usage(op: str, answer: dict[str, Any], usage: Usage | None) -> None:
    assert media.body_usage(op, body(answer)) == usage


def test_transcript_as_text_is_per_request() -> None:
    assert media.body_usage("audio_transcription", b"hello there\n") == Usage()
    assert media.body_usage("embeddings", b"not json") is None


def test_speech_bills_characters() -> None:
    assert media.speech_usage({"input": "Hello, world"}) == Usage(characters=12)


def test_stream_meter() -> None:
    m = media.StreamMeter("images")
    m.event({"type": "image_generation.partial_image"})
    m.event({"type": "image_generation.completed"})
    assert m.usage == Usage(images=1)
    m.event({"type": "image_edit.completed", "usage": {"input_tokens": 1, "output_tokens": 2}})
    assert m.usage == Usage(input=1, output=2)
    t = media.StreamMeter("audio_transcription")
    assert t.usage == Usage()
    t.event({"type": "transcript.text.done", "usage": {"type": "duration", "seconds": 4}})
    assert t.usage == Usage(audio_seconds=4.0)
    s = media.StreamMeter("audio_speech", Usage(characters=5))
    assert s.usage == Usage(characters=5)


# ── embeddings across protocols ─────────────────────────────────────────────────────────────


def test_openai_to_gemini_and_back() -> None:
    payload = {"model": "e", "input": ["one", "two"], "dimensions": 3, "encoding_format": "base64"}
    req = embeddings.gemini_request(payload, upstream_model="gemini-embedding-001")
    assert req == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": t}]},
                "outputDimensionality": 3,
            }
            for t in ("one", "two")
        ]
    }
    answer = {"embeddings": [{"values": [0.5, -1.0, 0.25]}, {"values": [1.0, 0.0, 2.0]}]}
    out, usage = embeddings.openai_response(
        answer, model="e", texts=["one", "two"], encoding_format="base64"
    )
    decoded = struct.unpack("<3f", base64.b64decode(out["data"][0]["embedding"]))
    assert decoded == (0.5, -1.0, 0.25)
    assert [d["index"] for d in out["data"]] == [0, 1]
    assert usage == Usage(input=2) and out["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    plain, _ = embeddings.openai_response(answer, model="e", texts=["x"], encoding_format=None)
    assert plain["data"][1]["embedding"] == [1.0, 0.0, 2.0]


def test_gemini_to_openai_and_back() -> None:
    single = {"content": {"parts": [{"text": "a"}, {"text": "b"}]}, "taskType": "RETRIEVAL_QUERY"}
    req, dropped = embeddings.openai_request(single, upstream_model="te3", batch=False)
    assert req == {"model": "te3", "input": ["a b"], "encoding_format": "float"}
    assert dropped == ["taskType"]
    batch = {
        "requests": [
            {"model": "models/x", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 2},
            {"model": "models/x", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 2},
        ]
    }
    req, dropped = embeddings.openai_request(batch, upstream_model="te3", batch=True)
    assert req["input"] == ["a", "b"] and req["dimensions"] == 2 and dropped == []
    answer = {
        "data": [
            {"index": 1, "embedding": [3.0, 4.0]},
            {"index": 0, "embedding": base64.b64encode(struct.pack("<2f", 1.0, 2.0)).decode()},
        ],
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }
    out, usage = embeddings.gemini_response(answer, batch=True)
    assert out == {"embeddings": [{"values": [1.0, 2.0]}, {"values": [3.0, 4.0]}]}
    assert usage == Usage(input=4)
    one, _ = embeddings.gemini_response(answer, batch=False)
    assert one == {"embedding": {"values": [1.0, 2.0]}}


def test_native_batch_body_follows_the_mapping() -> None:
    batch = {"requests": [{"model": "models/public", "content": {"parts": [{"text": "a"}]}}]}
    fixed = embeddings.gemini_native_body(batch, upstream_model="upstream", batch=True)
    assert fixed is not None and fixed["requests"][0]["model"] == "models/upstream"
    same = {"requests": [{"model": "models/upstream", "content": {}}]}
    assert embeddings.gemini_native_body(same, upstream_model="upstream", batch=True) is None
    assert embeddings.gemini_native_body(batch, upstream_model="u", batch=False) is None


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda: embeddings.openai_texts({"input": [1, 2, 3]}), "input"),
        (lambda: embeddings.gemini_texts({"requests": []}, batch=True), "requests"),
        (lambda: embeddings.gemini_texts({"content": "x"}, batch=False), "content"),
    ],
)
def test_untranslatable_inputs_are_e16(call: Any, param: str) -> None:
    with pytest.raises(GatewayError) as info:
        call()
    assert info.value.param == param


def test_text_usage_estimate() -> None:
    assert embeddings.text_usage(["abcd", "abcde", "é"]) == Usage(input=1 + 2 + 1)
