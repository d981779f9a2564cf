"""The request bodies of the benchmark, and a one-shot probe that checks what comes back.

Every body is an OpenAI chat request of exactly ``BODY_BYTES`` bytes (SPEC R20.1: a 230-byte chat
body), padded in the user text; the slow-stream body carries the mock directive that spaces the
events by 20 ms. The probe sends one request with the standard library and checks the answer's
shape (for a stream: 20 content chunks, a finish chunk, a usage chunk and ``[DONE]``), so that a
throughput number is never reported for responses that are not the ones the SPEC describes.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "BODIES",
    "BODY_BYTES",
    "CONTENT_CHUNKS",
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

# name -> (stream, directive in the user text)
BODIES: dict[str, tuple[bool, str]] = {
    "chat": (False, ""),
    "stream": (True, ""),
    "slow": (True, SLOW_DIRECTIVE),
}


def chat_body(model: str, *, stream: bool, directive: str = "", size: int = BODY_BYTES) -> bytes:
    """A chat request of exactly ``size`` bytes (the user text is padded to fit)."""

    def render(text: str) -> bytes:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": text}],
            "max_tokens": 256,
        }
        if stream:
            body["stream"] = True
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
    for name, (stream, directive) in BODIES.items():
        path = folder / f"{name}.json"
        path.write_bytes(chat_body(model, stream=stream, directive=directive))
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


def probe(url: str, body: Path, auth: str | None, *, stream: bool, timeout: float = 30) -> Probe:
    headers = {"content-type": "application/json"}
    if auth:
        headers["authorization"] = auth
    request = urllib.request.Request(url, data=body.read_bytes(), headers=headers, method="POST")
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
    if stream:
        _check_stream(raw, out)
    else:
        _check_json(raw, out)
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
