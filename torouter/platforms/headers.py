"""Header pieces every platform shares (R5.3, R9.1). Pure."""

from __future__ import annotations

from torouter.platforms.spec import JSON, Channel

__all__ = ["JSON", "add_extra_headers", "base_headers"]


def base_headers(request_id: str, content_type: str = JSON) -> dict[str, str]:
    """Identity encoding: pass-through relays the upstream's bytes and meters them."""
    return {"Content-Type": content_type, "Accept-Encoding": "identity", "x-request-id": request_id}


def add_extra_headers(headers: dict[str, str], ch: Channel) -> dict[str, str]:
    """The channel's `extra_headers` option, applied last so an admin can override anything."""
    extra = ch.options.get("extra_headers")
    if isinstance(extra, dict):
        headers.update({str(k): str(v) for k, v in extra.items()})
    return headers
