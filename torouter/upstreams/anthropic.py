"""Anthropic upstreams: URL and auth headers (SPEC R3.4, R5.3, R9.1). Pure."""

from __future__ import annotations

from torouter.records import ChannelRec

__all__ = ["messages_url", "request_headers"]

DEFAULT_BASE = "https://api.anthropic.com"
DEFAULT_VERSION = "2023-06-01"


def messages_url(ch: ChannelRec, *, count_tokens: bool = False, query: str = "") -> str:
    base = (ch.base_url or DEFAULT_BASE).removesuffix("/v1")
    url = base + ("/v1/messages/count_tokens" if count_tokens else "/v1/messages")
    return f"{url}?{query}" if query else url


def request_headers(
    ch: ChannelRec, request_id: str, client: dict[bytes, bytes] | None = None
) -> dict[str, str]:
    client = client or {}
    version = client.get(b"anthropic-version", b"").decode("latin-1") or DEFAULT_VERSION
    headers = {
        "Content-Type": "application/json",
        "Accept-Encoding": "identity",
        "anthropic-version": version,
        "x-request-id": request_id,
    }
    if ch.options.get("oauth"):
        headers["Authorization"] = f"Bearer {ch.credential}"
    else:
        headers["x-api-key"] = ch.credential
    beta = client.get(b"anthropic-beta")
    if beta:
        headers["anthropic-beta"] = beta.decode("latin-1")
    extra = ch.options.get("extra_headers")
    if isinstance(extra, dict):
        headers.update({str(k): str(v) for k, v in extra.items()})
    return headers
