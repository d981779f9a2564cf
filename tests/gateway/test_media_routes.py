"""Front doors of issue 9 in the route table and the R5.2 matrix (SPEC R2.2, R3.3, R5.2, R9.2)."""

from __future__ import annotations

import pytest

from tests.gateway.test_response_routes import ch
from torouter.gateway import routes
from torouter.routing import matrix


@pytest.mark.parametrize(
    ("path", "operation"),
    [
        ("/v1/responses", "responses"),
        ("/api/v1/responses", "responses"),
        ("/v1/embeddings", "embeddings"),
        ("/v1/images/generations", "images"),
        ("/v1/images/edits", "image_edits"),
        ("/v1/audio/transcriptions", "audio_transcription"),
        ("/api/v1/audio/speech", "audio_speech"),
        ("/v1/rerank", "rerank"),
        ("/v1/completions", "completions"),
        ("/v1/moderations", "moderations"),
    ],
)
def test_openai_front_doors(path: str, operation: str) -> None:
    r = routes.match("POST", path)
    assert r is not None and (r.surface, r.operation) == ("openai", operation)


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_stored_responses_are_not_served(method: str) -> None:
    assert routes.match(method, "/v1/responses/resp_1") is None  # E19, 404


@pytest.mark.parametrize(
    ("path", "operation"),
    [
        ("/v1beta/models/text-embedding-004:embedContent", "embed_content"),
        ("/v1/models/gemini-embedding-001:batchEmbedContents", "batch_embed_contents"),
    ],
)
def test_gemini_embed_front_doors(path: str, operation: str) -> None:
    r = routes.match("POST", path)
    assert r is not None and r.surface == "gemini" and r.operation == operation and r.gemini


def test_multipart_operations() -> None:
    assert routes.MULTIPART == {"image_edits", "audio_transcription"}


# R5.2 rows: operation → {platform: mode}
ROWS = {
    "responses": {
        "openai": "N",
        "anthropic": "T",
        "gemini": "T",
        "openrouter": "T",
        "openai-compatible": "T",
    },
    "embeddings": {
        "openai": "N",
        "anthropic": None,
        "gemini": "T",
        "openrouter": "N",
        "openai-compatible": "N",
    },
    "images": {
        "openai": "N",
        "anthropic": None,
        "gemini": None,
        "openrouter": None,
        "openai-compatible": "N",
    },
    "audio_speech": {
        "openai": "N",
        "anthropic": None,
        "gemini": None,
        "openrouter": None,
        "openai-compatible": "N",
    },
    "rerank": {
        "openai": None,
        "anthropic": None,
        "gemini": None,
        "openrouter": None,
        "openai-compatible": "N",
    },
    "completions": {
        "openai": "N",
        "anthropic": None,
        "gemini": None,
        "openrouter": None,
        "openai-compatible": "N",
    },
    "embed_content": {
        "openai": "T",
        "anthropic": None,
        "gemini": "N",
        "openrouter": "T",
        "openai-compatible": "T",
    },
}


@pytest.mark.parametrize("operation", list(ROWS))
def test_matrix_rows(operation: str) -> None:
    for platform, want in ROWS[operation].items():
        assert matrix.mode(operation, platform) == want, (operation, platform)


def test_responses_native_option() -> None:
    compat = ch(1, "openai-compatible")
    assert matrix.channel_mode("responses", compat) == "T"
    native = ch(2, "openai-compatible")
    object.__setattr__(native, "options", {"responses_native": True})
    assert matrix.channel_mode("responses", native) == "N"
    assert matrix.channel_mode("chat", native) == "N"
    assert matrix.serves_previous_response(ch(3)) and not matrix.serves_previous_response(native)
