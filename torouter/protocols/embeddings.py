"""Embeddings across protocols (SPEC R5.2, R10.1, R10.6; translated embeddings are a ToRouter
extension). Pure functions.

OpenAI `/v1/embeddings` on gemini channels becomes `batchEmbedContents`; Gemini `embedContent`
and `batchEmbedContents` on OpenAI-wire channels become `/v1/embeddings`. Gemini reports no token
usage for embeddings, so those rows carry the R7.9 estimate of the input text (`estimated`).
"""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

from torouter.errors import GatewayError, error
from torouter.protocols import shapes
from torouter.protocols.internal import Usage
from torouter.protocols.shapes import JSON_NUMBER, Shape
from torouter.protocols.usage import from_openai

__all__ = [
    "gemini_native_body",
    "gemini_request",
    "gemini_response",
    "gemini_texts",
    "openai_request",
    "openai_response",
    "openai_texts",
    "text_usage",
]


def _invalid(message: str, param: str) -> GatewayError:
    return error("E16", message, param=param)


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    return obj.get(camel, obj.get(snake))


def text_usage(texts: list[str]) -> Usage:
    """The R7.9 estimate when the upstream reports none: ceil(bytes / 4) per text."""
    return Usage(input=sum(math.ceil(len(t.encode()) / 4) for t in texts))


# ── OpenAI front door → gemini channel ──────────────────────────────────────────────────────


def openai_texts(payload: dict[str, Any]) -> list[str]:
    """The `input` of an OpenAI embeddings body as texts (token arrays cannot be translated)."""
    value = payload.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise _invalid("input must be a string or a list of strings on this model", "input")


def gemini_request(payload: dict[str, Any], *, upstream_model: str) -> dict[str, Any]:
    """An OpenAI embeddings body → a Gemini `batchEmbedContents` body."""
    name = f"models/{upstream_model}"
    dims = payload.get("dimensions")
    requests = []
    for text in openai_texts(payload):
        item: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
        if isinstance(dims, int) and dims > 0:
            item["outputDimensionality"] = dims
        requests.append(item)
    return {"requests": requests}


def _vector(values: list[float], as_base64: bool) -> Any:
    if not as_base64:
        return values
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def openai_response(
    resp: dict[str, Any], *, model: str, texts: list[str], encoding_format: Any
) -> tuple[dict[str, Any], Usage]:
    """A Gemini `batchEmbedContents` answer → an OpenAI embeddings list, with estimated usage."""
    vectors = resp.get("embeddings")
    if not isinstance(vectors, list):
        raise ValueError("no embeddings in the upstream answer")
    as_base64 = encoding_format == "base64"
    data = []
    for index, item in enumerate(vectors):
        values = item.get("values") if isinstance(item, dict) else None
        if not isinstance(values, list):
            raise ValueError("an embedding without values")
        data.append(
            {"object": "embedding", "index": index, "embedding": _vector(values, as_base64)}
        )
    usage = text_usage(texts)
    body = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": usage.input, "total_tokens": usage.input},
    }
    return body, usage


# ── Gemini front door → OpenAI-wire channel ─────────────────────────────────────────────────


def _content_text(content: Any, param: str) -> str:
    if not isinstance(content, dict):
        raise _invalid("content is required", param)
    parts = content.get("parts")
    if not isinstance(parts, list):
        raise _invalid("content.parts is required", f"{param}.parts")
    texts = [
        str(p["text"]) for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
    ]
    return " ".join(texts)


def _requests(payload: dict[str, Any], batch: bool) -> list[dict[str, Any]]:
    if not batch:
        return [payload]
    requests = payload.get("requests")
    if not isinstance(requests, list) or not requests:
        raise _invalid("requests is required", "requests")
    for i, r in enumerate(requests):
        if not isinstance(r, dict):
            raise _invalid("requests must be objects", f"requests[{i}]")
    return requests


def gemini_texts(payload: dict[str, Any], *, batch: bool) -> list[str]:
    """The texts of an `embedContent` (one) or `batchEmbedContents` (several) body."""
    return [
        _content_text(r.get("content"), f"requests[{i}].content" if batch else "content")
        for i, r in enumerate(_requests(payload, batch))
    ]


def openai_request(
    payload: dict[str, Any], *, upstream_model: str, batch: bool
) -> tuple[dict[str, Any], list[str]]:
    """A Gemini embed body → an OpenAI embeddings body (and the names dropped, R5.7)."""
    requests = _requests(payload, batch)
    texts = gemini_texts(payload, batch=batch)
    body: dict[str, Any] = {"model": upstream_model, "input": texts, "encoding_format": "float"}
    dims = {_get(r, "outputDimensionality", "output_dimensionality") for r in requests}
    dims.discard(None)
    if len(dims) == 1:
        value = dims.pop()
        if isinstance(value, int) and value > 0:
            body["dimensions"] = value
    dropped = []
    if any(_get(r, "taskType", "task_type") for r in requests):
        dropped.append("taskType")
    if any(r.get("title") for r in requests):
        dropped.append("title")
    return body, dropped


# What `gemini_response` reads of an OpenAI answer, with the types it reads them as.
_OPENAI_ANSWER: dict[str, Shape] = {"data": [{"index": JSON_NUMBER}], "usage": dict}


def gemini_response(resp: dict[str, Any], *, batch: bool) -> tuple[dict[str, Any], Usage | None]:
    """An OpenAI embeddings answer → a Gemini embed answer, with the upstream's token usage."""
    shapes.check(resp, _OPENAI_ANSWER)  # else a broken upstream (R9.4)
    data = resp.get("data")
    if not isinstance(data, list):
        raise ValueError("no data in the upstream answer")
    ordered = sorted(
        (d for d in data if isinstance(d, dict)), key=lambda d: int(d.get("index") or 0)
    )
    vectors = []
    for d in ordered:
        values = d.get("embedding")
        if isinstance(values, str):  # base64 floats, should an upstream ignore the format
            raw = base64.b64decode(values)
            values = list(struct.unpack(f"<{len(raw) // 4}f", raw))
        if not isinstance(values, list):
            raise ValueError("an embedding without values")
        vectors.append({"values": values})
    u = resp.get("usage")
    usage = from_openai(u) if isinstance(u, dict) else None
    if batch:
        return {"embeddings": vectors}, usage
    if not vectors:
        raise ValueError("no embedding in the upstream answer")
    return {"embedding": vectors[0]}, usage


def gemini_native_body(
    payload: dict[str, Any], *, upstream_model: str, batch: bool
) -> dict[str, Any] | None:
    """A batch body whose `requests[].model` must follow a mapped model id; None: unchanged."""
    if not batch:
        return None
    name = f"models/{upstream_model}"
    requests = payload.get("requests")
    if not isinstance(requests, list):
        return None
    if all(not isinstance(r, dict) or r.get("model") in (None, name) for r in requests):
        return None
    fixed = [{**r, "model": name} if isinstance(r, dict) and "model" in r else r for r in requests]
    return {**payload, "requests": fixed}
