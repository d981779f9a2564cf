"""Azure OpenAI (ToRouter extension, R9.1): OpenAI wire under a deployment path.

`{base}/openai/deployments/{deployment}/{path}?api-version=…`, the deployment being the
upstream model id and the api-version the channel option `api_version`; the key goes in
`api-key` (or a bearer token with the `oauth` option). Responses are translated through chat
completions: the deployment path has no stored responses.
"""

from __future__ import annotations

from collections.abc import Mapping

from torouter.platforms import openai_wire
from torouter.platforms.names import Codec, Operation, Platform, Wire
from torouter.platforms.spec import JSON, Channel, PlatformSpec

__all__ = ["API_VERSION", "PLATFORM"]

API_VERSION = "2024-10-21"


def _resource(ch: Channel) -> str:
    return ch.base_url.removesuffix("/openai")


def _version(ch: Channel) -> str:
    return str(ch.options.get("api_version") or API_VERSION)


def url(
    ch: Channel, operation: str, model: str, *, native: bool, stream: bool, query: str = ""
) -> str:
    resource = ch.base_url.removesuffix("/openai")
    path = openai_wire.path_for(operation, native)
    version = ch.options.get("api_version") or API_VERSION
    return f"{resource}/openai/deployments/{model}{path}?api-version={version}"


def headers(
    ch: Channel,
    request_id: str,
    client: Mapping[bytes, bytes] | None = None,
    content_type: str = JSON,
) -> dict[str, str]:
    if ch.options.get("oauth"):
        return openai_wire.request_headers(ch, request_id, client, content_type)
    return openai_wire.build_headers(ch, request_id, client, content_type, "api-key", ch.credential)


def models_url(ch: Channel, cursor: str | None = None) -> str:
    return f"{_resource(ch)}/openai/models?api-version={_version(ch)}"


PLATFORM = PlatformSpec(
    platform=Platform.AZURE_OPENAI,
    wire=Wire.OPENAI,
    codec=Codec.OPENAI_CHAT,
    modes={**openai_wire.CHAT_COLUMN, **openai_wire.MEDIA_COLUMN},
    url=url,
    headers=headers,
    models_url=models_url,
    probe_operation=Operation.CHAT,
    probe_body=openai_wire.probe_body,
    thinking=openai_wire.thinking_effort,
    dialect="openai",  # OpenAI's own models: `max_completion_tokens`, no `top_k`
    base_url_required=True,
    native_drop=openai_wire.OPENROUTER_ONLY,
)
