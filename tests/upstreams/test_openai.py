"""OpenAI-wire URLs and auth (SPEC R9.1, R5.3): Azure deployments take `api-key` and
`/openai/deployments/{deployment}/…?api-version=…`, for native and translated exchanges alike
(issue 12 item 13)."""

from __future__ import annotations

import pytest

from tests.gateway.kit import build, channel
from torouter.upstreams import openai as openai_up

AZURE_CHAT = "http://upstream.test/openai/deployments/dep-1/chat/completions?api-version=2024-10-21"


@pytest.mark.parametrize(
    ("operation", "path"),
    [
        ("chat", "/chat/completions"),
        ("embeddings", "/embeddings"),
        ("images", "/images/generations"),
        ("audio_speech", "/audio/speech"),
        ("messages", "/chat/completions"),  # a translation: chat completions
    ],
)
def test_azure_deployment_paths(operation: str, path: str) -> None:
    ch = channel("azure-openai")
    url = openai_up.operation_url(ch, operation, "dep-1")
    assert url == f"http://upstream.test/openai/deployments/dep-1{path}?api-version=2024-10-21"


def test_azure_api_version_option_and_base_with_openai_suffix() -> None:
    base = "https://res.openai.azure.com/openai"
    ch = channel("azure-openai", base_url=base, options={"api_version": "v9"})
    assert openai_up.chat_url(ch, "d") == (
        "https://res.openai.azure.com/openai/deployments/d/chat/completions?api-version=v9"
    )


def test_azure_auth_header() -> None:
    headers = openai_up.request_headers(channel("azure-openai"), "req_1")
    assert headers["api-key"] == "secret-key" and "Authorization" not in headers
    oauth = openai_up.request_headers(channel("azure-openai", options={"oauth": True}), "r")
    assert oauth["Authorization"] == "Bearer secret-key" and "api-key" not in oauth


CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
ANTHROPIC = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
GEMINI = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
RESPONSES = {"model": "m", "input": "hi"}


@pytest.mark.parametrize(
    ("front", "payload"),
    [("openai", CHAT), ("anthropic", ANTHROPIC), ("gemini", GEMINI), ("responses", RESPONSES)],
)
@pytest.mark.parametrize("stream", [False, True])
def test_every_front_door_reaches_an_azure_deployment(
    front: str, payload: dict[str, object], stream: bool
) -> None:
    ex = build(front, "azure-openai", payload, stream=stream)
    assert ex.native == (front == "openai")
    assert ex.url == AZURE_CHAT.replace("dep-1", "m")
    assert ex.headers["api-key"] == "secret-key" and "Authorization" not in ex.headers
