"""OpenAI-wire URLs and auth for a channel of any OpenAI-wire platform (SPEC R9.1, R5.3).

The builders live with their platforms (`torouter/platforms/`); these functions answer the
questions callers holding an OpenAI-wire channel ask, through the registry. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping

from torouter.platforms.openai_wire import OPERATION_PATHS
from torouter.platforms.registry import spec_for
from torouter.platforms.spec import JSON, Channel

__all__ = ["chat_url", "operation_url", "request_headers"]


def operation_url(ch: Channel, operation: str, deployment: str = "") -> str:
    """The URL of an operation; anything without its own path (translations) is chat.
    `deployment` is the upstream model id (Azure puts it in the path)."""
    native = operation in OPERATION_PATHS
    return spec_for(ch.platform).url(ch, operation, deployment, native=native, stream=False)


def chat_url(ch: Channel, deployment: str = "") -> str:
    return operation_url(ch, "chat", deployment)


def request_headers(
    ch: Channel,
    request_id: str,
    client: Mapping[bytes, bytes] | None = None,
    content_type: str = JSON,
) -> dict[str, str]:
    """Auth and the forwarded client headers: `openai-beta` on native exchanges (R5.3)."""
    return spec_for(ch.platform).headers(ch, request_id, client, content_type)
