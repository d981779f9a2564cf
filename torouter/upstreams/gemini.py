"""Gemini upstreams: URL and auth headers (SPEC R3.5, R9.1). Pure."""

from __future__ import annotations

from urllib.parse import quote

from torouter.records import ChannelRec

__all__ = ["action_url", "request_headers"]

DEFAULT_BASE = "https://generativelanguage.googleapis.com"


def action_url(ch: ChannelRec, model: str, action: str, *, sse: bool = False) -> str:
    base = ch.base_url or DEFAULT_BASE
    if not base.rstrip("/").endswith(("/v1beta", "/v1")):
        base = base.rstrip("/") + "/v1beta"
    url = f"{base}/models/{quote(model, safe='/-._')}:{action}"
    return url + "?alt=sse" if sse else url


def request_headers(ch: ChannelRec, request_id: str) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept-Encoding": "identity",
        "x-request-id": request_id,
    }
    if ch.options.get("oauth"):
        headers["Authorization"] = f"Bearer {ch.credential}"
    else:
        headers["x-goog-api-key"] = ch.credential
    extra = ch.options.get("extra_headers")
    if isinstance(extra, dict):
        headers.update({str(k): str(v) for k, v in extra.items()})
    return headers
