"""OpenAI chat completions on the wire: what pass-through needs from it (SPEC R4.2, R5.3).

Pure functions: request rewriting, usage extraction from a completed JSON body, and the
per-read scan of a stream that finds the usage chunk and drops it when the client did not ask.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["content_chars", "in_stream_error", "scan_stream", "usage_of_body"]

_USAGE_MARKS = (b'"usage":{', b'"usage": {')
DONE = b"data: [DONE]"


def usage_of_body(body: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(usage block, upstream response id) of a non-stream JSON response."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(obj, dict):
        return None, None
    usage = obj.get("usage")
    rid = obj.get("id")
    return (usage if isinstance(usage, dict) else None), (rid if isinstance(rid, str) else None)


def content_chars(events: bytes) -> int:
    """Characters of `"content":"…"` strings in these events (the R10.1 output estimate)."""
    n = 0
    for mark in (b'"content":"', b'"reasoning_content":"', b'"arguments":"'):
        i = events.find(mark)
        while i >= 0:
            start = i + len(mark)
            j = start
            while True:
                j = events.find(b'"', j)
                if j < 0:
                    j = len(events)
                    break
                if events[j - 1] != 0x5C:  # not an escaped quote
                    break
                j += 1
            n += j - start
            i = events.find(mark, j)
    return n


def scan_stream(events: bytes, keep_usage_chunk: bool) -> tuple[bytes, dict[str, Any] | None]:
    """One or more complete events → (bytes to send, usage block if one was seen).

    The usage-only chunk (`"choices": []`) is removed when the client did not ask for it.
    """
    if not any(m in events for m in _USAGE_MARKS):
        return events, None
    usage: dict[str, Any] | None = None
    kept: list[bytes] = []
    for ev in events.split(b"\n\n"):
        if ev and any(m in ev for m in _USAGE_MARKS):
            start = ev.find(b"data:")
            try:
                obj = orjson.loads(ev[start + 5 :]) if start >= 0 else None
            except orjson.JSONDecodeError:
                obj = None
            if isinstance(obj, dict):
                u = obj.get("usage")
                if isinstance(u, dict):
                    usage = u
                if not keep_usage_chunk and obj.get("choices") == []:
                    continue
        kept.append(ev)
    return b"\n\n".join(kept), usage


def in_stream_error(message: str, type_: str, code: str) -> bytes:
    """R4.6: one error event, then `[DONE]`."""
    err = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return b"data: " + orjson.dumps(err) + b"\n\n" + DONE + b"\n\n"
