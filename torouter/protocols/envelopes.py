"""Gateway errors rendered in each front door's envelope (SPEC R8.3, R8.4). Pure."""

from __future__ import annotations

import math

import orjson

from torouter.errors import GatewayError
from torouter.platforms.names import FrontDoor
from torouter.protocols.openai_responses_stream import in_stream_error as responses_stream_error

__all__ = ["Surface", "pick_language", "render_error", "should_retry_header"]

# The envelope a client reads errors in: its front door's protocol (`matrix.FRONT_PROTOCOL`).
# The registry's enum itself, so a route's front door is a surface without conversion.
Surface = FrontDoor

_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "FAILED_PRECONDITION",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_ACCESS_CODES = frozenset({"model_not_allowed", "group_disabled", "group_not_allowed"})


def pick_language(accept_language: str | None, default: str = "en") -> str:
    """zh when Accept-Language ranks zh above en, en in the reverse case, else the default."""
    if not accept_language:
        return default
    best: dict[str, float] = {}
    for i, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        base = tag.split("-")[0]
        if base in ("zh", "en"):
            score = q - i * 1e-6  # earlier wins ties
            best[base] = max(best.get(base, -1.0), score)
    zh, en = best.get("zh", -1.0), best.get("en", -1.0)
    if zh < 0 and en < 0:
        return default
    return "zh-CN" if zh > en else "en"


_RETRY_TRUE = (b"x-should-retry", b"true")
_RETRY_FALSE = (b"x-should-retry", b"false")


def should_retry_header(retry: bool) -> tuple[bytes, bytes]:
    """The `x-should-retry` header every error carries (R8.1): SDKs and CLIs obey it first."""
    return _RETRY_TRUE if retry else _RETRY_FALSE


def retry_after_seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds))


def render_error(
    err: GatewayError, surface: Surface, *, lang: str = "en", request_id: str = ""
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, extra headers, body) for the caller's protocol."""
    spec = err.spec
    message = err.text(lang)
    headers: list[tuple[bytes, bytes]] = [(k.encode(), v.encode()) for k, v in err.headers]
    headers.append(should_retry_header(spec.retryable))
    retry = None
    if err.retry_after is not None:
        retry = retry_after_seconds(err.retry_after)
        headers.append((b"retry-after", str(retry).encode()))
        headers.append((b"retry-after-ms", str(int(err.retry_after * 1000)).encode()))
    if surface == "anthropic":
        inner: dict[str, object] = {"type": spec.type, "message": message}
        if spec.code in _ACCESS_CODES:
            inner["code"] = spec.code
        body: dict[str, object] = {"type": "error", "error": inner, "request_id": request_id}
    elif surface == "gemini":
        details: list[dict[str, object]] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": spec.code,
                "domain": "torouter",
            }
        ]
        if retry is not None:
            details.append(
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry}s"}
            )
        body = {
            "error": {
                "code": spec.status,
                "message": message,
                "status": _GEMINI_STATUS.get(spec.status, "UNKNOWN"),
                "details": details,
            }
        }
    else:
        body = {
            "error": {"message": message, "type": spec.type, "param": err.param, "code": spec.code}
        }
    return spec.status, headers, orjson.dumps(body)


def render_upstream_error(
    surface: Surface, status: int, platform: str, type_: str, message: str
) -> bytes:
    """A terminal upstream error re-wrapped in the caller's envelope (R8.2, R8.3)."""
    if surface == "anthropic":
        return orjson.dumps({"type": "error", "error": {"type": type_, "message": message}})
    if surface == "gemini":
        return orjson.dumps(
            {
                "error": {
                    "code": status,
                    "message": message,
                    "status": _GEMINI_STATUS.get(status, "UNKNOWN"),
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": type_,
                            "domain": platform,
                        }
                    ],
                }
            }
        )
    return orjson.dumps(
        {"error": {"message": message, "type": type_, "param": None, "code": type_}}
    )


def stream_error(
    surface: Surface, message: str, type_: str, code: str, *, sse: bool = True
) -> bytes:
    """The one in-stream error event after the first byte (R4.6), then the stream ends."""
    if surface == "anthropic":
        payload = {"type": "error", "error": {"type": type_, "message": message}}
        return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"
    if surface == "responses":
        return responses_stream_error(message, type_, code)
    if surface == "gemini":
        status = {"UPSTREAM_TIMEOUT": 504, "INTERNAL_ERROR": 500}.get(code, 502)
        payload = {"error": {"code": status, "message": message, "status": _GEMINI_STATUS[status]}}
        if not sse:
            return b",\r\n" + orjson.dumps(payload) + b"]"
        return b"data: " + orjson.dumps(payload) + b"\r\n\r\n"
    err = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return b"data: " + orjson.dumps(err) + b"\n\ndata: [DONE]\n\n"
