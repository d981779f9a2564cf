"""OpenAI-wire upstreams: openai, openrouter, openai-compatible, azure-openai (URL, auth). Pure.

Azure OpenAI (ToRouter extension, R9.1): the `api-key` header and
`{base}/openai/deployments/{deployment}/{path}?api-version=…`, the deployment being the upstream
model id; the api-version comes from the channel option `api_version`.
"""

from __future__ import annotations

from torouter.records import ChannelRec

__all__ = ["OPENAI_WIRE", "chat_url", "endpoint_url", "request_headers"]

OPENAI_WIRE = frozenset({"openai", "openrouter", "openai-compatible", "azure-openai"})
AZURE_API_VERSION = "2024-10-21"
DEFAULT_BASE = {
    "openai": "https://api.openai.com/v1",
    "openrouter": "https://openrouter.ai/api/v1",
}
OPENROUTER_ONLY = ("models", "provider", "transforms", "route")
# The upstream path of each front-door operation served natively on OpenAI wire (R3.3, R5.2).
OPERATION_PATHS = {
    "chat": "/chat/completions",
    "responses": "/responses",
    "embeddings": "/embeddings",
    "embed_content": "/embeddings",
    "batch_embed_contents": "/embeddings",
    "images": "/images/generations",
    "image_edits": "/images/edits",
    "audio_transcription": "/audio/transcriptions",
    "audio_speech": "/audio/speech",
    "rerank": "/rerank",
    "completions": "/completions",
    "moderations": "/moderations",
}


def base_url(ch: ChannelRec) -> str:
    return ch.base_url or DEFAULT_BASE.get(ch.platform, "")


def endpoint_url(ch: ChannelRec, path: str, deployment: str = "") -> str:
    """`path` such as `/chat/completions`, under the channel's base URL."""
    if ch.platform == "azure-openai":
        version = ch.options.get("api_version") or AZURE_API_VERSION
        base = ch.base_url.removesuffix("/openai")
        return f"{base}/openai/deployments/{deployment}{path}?api-version={version}"
    return base_url(ch) + path


def chat_url(ch: ChannelRec, deployment: str = "") -> str:
    return endpoint_url(ch, "/chat/completions", deployment)


def operation_url(ch: ChannelRec, operation: str, deployment: str = "") -> str:
    """The URL of an operation; anything without its own path (translations) is chat."""
    return endpoint_url(ch, OPERATION_PATHS.get(operation, "/chat/completions"), deployment)


def request_headers(
    ch: ChannelRec,
    request_id: str,
    client: dict[bytes, bytes] | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    """Auth and the forwarded client headers: `openai-beta` on native exchanges (R5.3)."""
    headers = {
        "Content-Type": content_type,
        "Accept-Encoding": "identity",
        "x-request-id": request_id,
    }
    beta = client.get(b"openai-beta") if client else None
    if beta:
        headers["OpenAI-Beta"] = beta.decode("latin-1")
    if ch.platform == "azure-openai" and not ch.options.get("oauth"):
        headers["api-key"] = ch.credential
    else:
        headers["Authorization"] = f"Bearer {ch.credential}"
    extra = ch.options.get("extra_headers")
    if isinstance(extra, dict):
        headers.update({str(k): str(v) for k, v in extra.items()})
    return headers
