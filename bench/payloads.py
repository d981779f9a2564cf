"""The request bodies of the benchmark, and a one-shot probe that checks what comes back.

Every body is exactly ``BODY_BYTES`` bytes (SPEC R20.1: a 230-byte chat body), padded in the user
text: OpenAI chat requests for the pass-through scenarios (the slow-stream one carries the mock
directive that spaces the events by 20 ms), and Anthropic Messages requests for the translated
route (the gateway's ``/v1/messages`` to the same OpenAI channel). The probe sends one request with
the standard library and checks the answer's shape in the front door's format (an OpenAI stream:
20 content chunks, a finish chunk, a usage chunk and ``[DONE]``; an Anthropic stream:
``message_start``, 20 text deltas, a ``message_delta`` with stop reason and usage,
``message_stop``), so that a throughput number is never reported for responses that are not the
ones the SPEC describes.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

__all__ = [
    "BODIES",
    "BODY_BYTES",
    "CONTENT_CHUNKS",
    "Body",
    "Front",
    "Probe",
    "chat_body",
    "probe",
    "write_bodies",
]

BODY_BYTES = 230
CONTENT_CHUNKS = 20  # the mock's default number of content chunks per stream
SLOW_DIRECTIVE = "[[mock:chunk_interval_ms=20]]"
_PROMPT = "Write a short note about the weather in Lisbon for a travel guide."
_PAD = " Keep it brief, friendly and plain."

Front = Literal["openai", "anthropic"]  # the front door a body is written for


@dataclass(frozen=True, slots=True)
class Body:
    stream: bool
    directive: str = ""  # appended to the user text
    front: Front = "openai"


BODIES: dict[str, Body] = {
    "chat": Body(False),
    "stream": Body(True),
    "slow": Body(True, SLOW_DIRECTIVE),
    "messages": Body(False, front="anthropic"),
    "messages_stream": Body(True, front="anthropic"),
}


def chat_body(
    model: str,
    *,
    stream: bool,
    directive: str = "",
    front: Front = "openai",
    size: int = BODY_BYTES,
) -> bytes:
    """A chat (or Anthropic Messages) request of exactly ``size`` bytes (the user text padded)."""

    def render(text: str) -> bytes:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": text}],
            "max_tokens": 256,
        }
        if stream:
            body["stream"] = True
            if front == "openai":
                body["stream_options"] = {"include_usage": True}
        return orjson.dumps(body)

    tail = f" {directive}" if directive else ""
    short = render(_PROMPT + tail)
    room = size - len(short)
    if room < 0:
        raise ValueError(f"the smallest body is {len(short)} bytes, more than {size}")
    pad = (_PAD * (room // len(_PAD) + 1))[:room]
    out = render(_PROMPT + pad + tail)
    assert len(out) == size, (len(out), size)
    return out


def write_bodies(folder: Path, model: str) -> dict[str, Path]:
    """Write each body to ``folder/<name>.json`` for wrk's Lua script; returns the paths."""
    paths = {}
    for name, spec in BODIES.items():
        path = folder / f"{name}.json"
        path.write_bytes(
            chat_body(model, stream=spec.stream, directive=spec.directive, front=spec.front)
        )
        paths[name] = path
    return paths


@dataclass(slots=True)
class Probe:
    """What one request returned, and what is wrong with it (empty: as expected)."""

    status: int = 0
    body_bytes: int = 0
    seconds: float = 0.0
    events: int = 0
    content_chunks: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "body_bytes": self.body_bytes,
            "ms": round(self.seconds * 1000, 3),
            "events": self.events,
            "content_chunks": self.content_chunks,
            "problems": self.problems,
        }


def probe(
    url: str,
    body: Path,
    headers: Mapping[str, str],
    *,
    stream: bool,
    front: Front = "openai",
    timeout: float = 30,
) -> Probe:
    """One request; ``headers`` are the target's (auth, ``anthropic-version``…)."""
    sent = {"content-type": "application/json", **headers}
    request = urllib.request.Request(url, data=body.read_bytes(), headers=sent, method="POST")
    out = Probe()
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            out.status = resp.status
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        out.status = exc.code
        raw = exc.read()
    except OSError as exc:
        out.problems.append(f"request failed: {exc}")
        return out
    out.seconds = time.perf_counter() - t0
    out.body_bytes = len(raw)
    if out.status != 200:
        out.problems.append(f"status {out.status}: {raw[:300]!r}")
        return out
    check = _CHECKS[front, stream]
    check(raw, out)
    return out


def _check_json(raw: bytes, out: Probe) -> None:
    try:
        data = orjson.loads(raw)
        text = data["choices"][0]["message"]["content"]
        usage = data["usage"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
        out.problems.append(f"not a chat completion: {exc!r}: {raw[:300]!r}")
        return
    if not text:
        out.problems.append("empty answer")
    if not usage or not usage.get("completion_tokens"):
        out.problems.append("no usage")


def _check_stream(raw: bytes, out: Probe) -> None:
    events = [e for e in raw.replace(b"\r\n", b"\n").split(b"\n\n") if e.strip()]
    out.events = len(events)
    finish = usage = False
    for event in events[:-1]:
        data = b"".join(ln[5:].strip() for ln in event.split(b"\n") if ln.startswith(b"data:"))
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            out.problems.append(f"bad event: {event[:200]!r}")
            continue
        for choice in chunk.get("choices") or ():
            if (choice.get("delta") or {}).get("content"):
                out.content_chunks += 1
            if choice.get("finish_reason"):
                finish = True
        usage = usage or bool(chunk.get("usage"))
    if not events or events[-1].strip() != b"data: [DONE]":
        out.problems.append("the stream does not end with data: [DONE]")
    if out.content_chunks != CONTENT_CHUNKS:
        out.problems.append(f"{out.content_chunks} content chunks, not {CONTENT_CHUNKS}")
    if not finish:
        out.problems.append("no finish_reason")
    if not usage:
        out.problems.append("no usage chunk")


def _check_message(raw: bytes, out: Probe) -> None:
    """An Anthropic message: ``type: message`` with a text block and output tokens."""
    try:
        data = orjson.loads(raw)
        kind = data["type"]
        text = "".join(b.get("text", "") for b in data["content"] if b.get("type") == "text")
        usage = data["usage"]
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        out.problems.append(f"not an Anthropic message: {exc!r}: {raw[:300]!r}")
        return
    if kind != "message":
        out.problems.append(f"type {kind!r}, not 'message'")
    if not text:
        out.problems.append("no text content")
    if not usage or not usage.get("output_tokens"):
        out.problems.append("no usage")


def _sse_events(raw: bytes) -> list[tuple[str, bytes]]:
    """(event name, data) of each server-sent event; the name is "" when there is none."""
    out = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        if not block.strip():
            continue
        name, data = "", b""
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode("utf-8", "replace")
            elif line.startswith(b"data:"):
                data += line[5:].strip()
        out.append((name, data))
    return out


def _check_message_stream(raw: bytes, out: Probe) -> None:
    """An Anthropic stream: message_start, 20 text deltas, stop reason, usage, message_stop."""
    events = _sse_events(raw)
    out.events = len(events)
    names = [name for name, _ in events]
    stop_reason = usage = False
    for name, data in events:
        if name not in ("content_block_delta", "message_delta"):
            continue
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            out.problems.append(f"bad {name} event: {data[:200]!r}")
            continue
        delta = event.get("delta") or {}
        if (
            name == "content_block_delta"
            and delta.get("type") == "text_delta"
            and delta.get("text")
        ):
            out.content_chunks += 1
        if name == "message_delta":
            stop_reason = stop_reason or bool(delta.get("stop_reason"))
            usage = usage or bool((event.get("usage") or {}).get("output_tokens"))
    if not names or names[0] != "message_start":
        out.problems.append("the stream does not start with event: message_start")
    if not names or names[-1] != "message_stop":
        out.problems.append("the stream does not end with event: message_stop")
    if "error" in names:
        out.problems.append("the stream carries an error event")
    if out.content_chunks != CONTENT_CHUNKS:
        out.problems.append(f"{out.content_chunks} text deltas, not {CONTENT_CHUNKS}")
    if not stop_reason:
        out.problems.append("no stop_reason")
    if not usage:
        out.problems.append("no usage in message_delta")


_CHECKS: dict[tuple[Front, bool], Callable[[bytes, Probe], None]] = {
    ("openai", False): _check_json,
    ("openai", True): _check_stream,
    ("anthropic", False): _check_message,
    ("anthropic", True): _check_message_stream,
}
