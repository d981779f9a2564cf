"""Metering of the OpenAI endpoints besides text generation (SPEC R10.3, R10.6). Pure.

Tokens where the upstream reports them; else the unit the endpoint is priced in: images
returned (`images`), the transcribed duration (`audio_seconds`), the speech input's length
(`characters`), or nothing but the per-request price (rerank, moderations, a transcript without
a reported duration).
"""

from __future__ import annotations

from typing import Any

import orjson

from torouter.protocols.internal import Usage
from torouter.protocols.usage import from_openai

__all__ = ["StreamMeter", "body_usage", "speech_usage"]


def _tokens(u: Any) -> Usage | None:
    if not isinstance(u, dict):
        return None
    if not any(k in u for k in ("prompt_tokens", "input_tokens", "total_tokens")):
        return None
    return from_openai(u)


def _rerank(obj: dict[str, Any]) -> Usage:
    """Jina style `usage.total_tokens`, or Cohere style `meta.billed_units.input_tokens`."""
    u = obj.get("usage")
    if not isinstance(u, dict):
        meta = obj.get("meta")
        u = meta.get("billed_units") if isinstance(meta, dict) else None
    if not isinstance(u, dict):
        return Usage()
    for key in ("prompt_tokens", "input_tokens", "total_tokens"):
        v = u.get(key)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return Usage(input=v)
    return Usage()


def _transcription(obj: dict[str, Any]) -> Usage:
    u = obj.get("usage")
    if isinstance(u, dict):
        if u.get("type") == "duration" and isinstance(u.get("seconds"), (int, float)):
            return Usage(audio_seconds=float(u["seconds"]))
        tokens = _tokens(u)
        if tokens is not None:
            return tokens
    duration = obj.get("duration")
    if isinstance(duration, (int, float)) and not isinstance(duration, bool):
        return Usage(audio_seconds=float(duration))
    return Usage()


def body_usage(operation: str, data: bytes) -> Usage | None:
    """Usage of a whole native answer; None when tokens were due but not reported."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        obj = None
    if not isinstance(obj, dict):
        # A transcript as text, srt or vtt: no duration reported, per request only.
        return Usage() if operation == "audio_transcription" else None
    if operation == "images":
        tokens = _tokens(obj.get("usage"))
        if tokens is not None:
            return tokens
        images = obj.get("data")
        return Usage(images=len(images) if isinstance(images, list) else 0)
    if operation == "audio_transcription":
        return _transcription(obj)
    if operation == "rerank":
        return _rerank(obj)
    if operation == "moderations":
        return _tokens(obj.get("usage")) or Usage()
    return _tokens(obj.get("usage"))  # embeddings, completions


def speech_usage(payload: dict[str, Any]) -> Usage:
    """Speech bills the input's characters (R10.6)."""
    text = payload.get("input")
    return Usage(characters=len(text) if isinstance(text, str) else 0)


class StreamMeter:
    """Usage of a streamed media answer (image, transcript or speech events), one event at a
    time: reported tokens win; else images completed, the transcript's duration, or the
    usage the stream started with (speech characters)."""

    def __init__(self, operation: str, base: Usage | None = None) -> None:
        self._op = operation
        self._base = base
        self._images = 0
        self._reported: Usage | None = None

    def event(self, obj: dict[str, Any]) -> None:
        kind = str(obj.get("type") or "")
        if kind.endswith(".completed") and "image" in kind:
            self._images += 1
        u = obj.get("usage")
        if isinstance(u, dict):
            if self._op == "audio_transcription":
                self._reported = _transcription(obj)
            else:
                self._reported = _tokens(u) or self._reported

    @property
    def usage(self) -> Usage | None:
        if self._reported is not None:
            return self._reported
        if self._op == "images":
            return Usage(images=self._images)
        if self._base is not None:
            return self._base
        return Usage() if self._op == "audio_transcription" else None
