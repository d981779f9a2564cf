"""Recorded real provider responses, served as recorded (directive ``replay=<case-id>``).

The cases live outside the repository (see ``fixtures/recorded/README.md`` of the shared folder):
``$TOROUTER_RECORDED_DIR``, else ``<repo>/../shared/fixtures/recorded``. Streams are sent byte for
byte, one send per SSE event (so pacing and ``disconnect_after`` apply); JSON bodies as recorded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "ReplayError",
    "default_dir",
    "folder",
    "iter_cases",
    "list_cases",
    "load_case",
    "rendered",
    "request_for",
    "split_events",
]

ENV = "TOROUTER_RECORDED_DIR"


class ReplayError(LookupError):
    """The case or the folder of recorded cases does not exist."""


def default_dir() -> Path:
    configured = os.environ.get(ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "recorded"


def folder(directory: str | os.PathLike[str] | None) -> Path:
    """The folder of recorded cases: ``directory`` if given, else ``default_dir()``."""
    path = Path(directory) if directory is not None else default_dir()
    if not (path / "index.json").is_file():
        raise ReplayError(f"no recorded cases in {path} (set {ENV})")
    return path


def list_cases(directory: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The entries of ``index.json``: id, provider, api, stream, features, file."""
    return list(orjson.loads((folder(directory) / "index.json").read_bytes())["cases"])


def load_case(case_id: str, directory: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The whole case (request, response, source, notes)."""
    return _load(str(folder(directory)), case_id)


@lru_cache(maxsize=256)
def _load(root: str, case_id: str) -> dict[str, Any]:
    if "/" in case_id or "\\" in case_id or case_id.startswith("."):
        raise ReplayError(f"bad case id {case_id!r}")
    for provider in ("openai", "anthropic", "gemini", "openai-compatible"):
        path = Path(root) / provider / f"{case_id}.json"
        if path.is_file():
            return orjson.loads(path.read_bytes())  # type: ignore[no-any-return]  # our files: objects
    raise ReplayError(f"no recorded case {case_id!r}")


def split_events(sse: bytes) -> list[bytes]:
    """Split SSE bytes after each event terminator (``\\n\\n`` or ``\\r\\n\\r\\n``), losslessly."""
    events = []
    start = 0
    i = 0
    size = len(sse)
    while i < size:
        if sse.startswith(b"\r\n\r\n", i):
            i += 4
        elif sse.startswith(b"\n\n", i):
            i += 2
        else:
            i += 1
            continue
        events.append(sse[start:i])
        start = i
    if start < size:
        events.append(sse[start:])
    return events


@lru_cache(maxsize=256)
def rendered(root: str, case_id: str) -> tuple[int, bytes, tuple[bytes, ...]]:
    """(status, content-type, body pieces) of a case; one piece per SSE event for streams."""
    response = _load(root, case_id)["response"]
    content_type = str(response["headers"].get("content-type", "application/json")).encode()
    if "sse" in response:
        pieces = tuple(split_events(response["sse"].encode()))
    else:
        pieces = (orjson.dumps(response["body"]),)
    return int(response["status"]), content_type, pieces


_MINIMAL: dict[str, tuple[str, dict[str, Any]]] = {
    "chat.completions": (
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]},
    ),
    "responses": ("/v1/responses", {"model": "gpt-4o-mini", "input": "Hello"}),
    "responses.input_tokens": (
        "/v1/responses/input_tokens",
        {"model": "gpt-4o-mini", "input": "Hello"},
    ),
    "embeddings": ("/v1/embeddings", {"model": "text-embedding-3-small", "input": "Hello"}),
    "messages": (
        "/v1/messages",
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "Hello"}],
        },
    ),
    "count_tokens": (
        "/v1/messages/count_tokens",
        {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hello"}]},
    ),
}
_GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}


def request_for(case: dict[str, Any]) -> dict[str, Any]:
    """A request to send to the mock for ``case``: method, mock path, query and JSON body.

    The recorded body is used when there is one; otherwise (and for the odd recordings whose path
    is not an API path) a minimal request of the same API is synthesized.
    """
    api = case["api"]
    stream = bool(case["stream"])
    recorded = case["request"].get("body")
    query: dict[str, str] = {}
    if api in _MINIMAL:
        path, minimal = _MINIMAL[api]
        body = dict(recorded) if isinstance(recorded, dict) else dict(minimal)
        if stream:
            body["stream"] = True
    else:
        model = "gemini-2.5-flash"
        original = case["request"]["path"]
        if "/models/" in original:
            model = original.rsplit("/models/", 1)[1].rsplit(":", 1)[0]
        action = {"countTokens": "countTokens", "batchEmbedContents": "batchEmbedContents"}.get(
            api, "streamGenerateContent" if stream else "generateContent"
        )
        path = f"/v1beta/models/{model}:{action}"
        body = dict(recorded) if isinstance(recorded, dict) else dict(_GEMINI_BODY)
        if action == "batchEmbedContents" and not isinstance(recorded, dict):
            body = {
                "requests": [{"model": f"models/{model}", "content": _GEMINI_BODY["contents"][0]}]
            }
        if stream:
            query["alt"] = "sse"
    return {"method": "POST", "path": path, "query": query, "body": body}


def iter_cases(directory: str | os.PathLike[str] | None = None) -> Iterator[dict[str, Any]]:
    """Every case of the folder, loaded."""
    for entry in list_cases(directory):
        yield load_case(entry["id"], directory)
