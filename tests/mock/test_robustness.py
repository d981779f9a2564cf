"""Odd request bodies get a provider-shaped 4xx, never an exception (in-process ASGI calls)."""

from __future__ import annotations

import random
from typing import Any

import orjson

from torouter.mock import MockApp

FIELDS = {
    "/v1/chat/completions": [
        "messages",
        "tools",
        "tool_choice",
        "stream",
        "stream_options",
        "n",
        "stop",
    ],
    "/v1/responses": ["input", "instructions", "tools", "tool_choice", "stream", "reasoning"],
    "/v1/messages": [
        "max_tokens",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "thinking",
        "stream",
    ],
    "/v1beta/models/g:generateContent": [
        "contents",
        "systemInstruction",
        "tools",
        "generationConfig",
    ],
    "/v1beta/models/g:streamGenerateContent": ["contents", "toolConfig", "generationConfig"],
    "/v1/embeddings": ["input", "dimensions", "encoding_format"],
    "/v1/rerank": ["query", "documents", "top_n"],
    "/v1/moderations": ["input"],
    "/v1/completions": ["prompt", "stream", "max_tokens"],
    "/v1/images/generations": ["prompt", "n", "stream", "partial_images", "response_format"],
    "/v1/audio/speech": ["input", "response_format", "stream_format"],
    "/v1/messages/count_tokens": ["messages", "system", "tools"],
    "/v1beta/models/g:countTokens": ["contents"],
    "/v1beta/models/g:batchEmbedContents": ["requests"],
}
WORDS = ["", "x", "user", "assistant", "text", "tool", "[[mock:tool]]", "[[mock:tools=2]]"]
KEYS = [
    "role",
    "content",
    "type",
    "text",
    "parts",
    "name",
    "input_schema",
    "function",
    "parameters",
]
HEADERS = [
    (b"authorization", b"Bearer k"),
    (b"x-api-key", b"k"),
    (b"anthropic-version", b"2023-06-01"),
    (b"x-goog-api-key", b"k"),
]


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(7 if depth < 3 else 3)
    if kind == 0:
        return rng.choice(WORDS)
    if kind == 1:
        return rng.choice([0, 1, -1, 5, 2000])
    if kind == 2:
        return None
    if kind == 3:
        return rng.random() < 0.5
    if kind == 4:
        return 1.5
    if kind == 5:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(KEYS): _value(rng, depth + 1) for _ in range(rng.randrange(4))}


async def test_random_bodies_never_crash_the_mock() -> None:
    app = MockApp()
    rng = random.Random(20240601)
    statuses: set[int] = set()
    for _ in range(3000):
        path = rng.choice(list(FIELDS))
        body = {name: _value(rng) for name in FIELDS[path] if rng.random() < 0.7}
        body["model"] = "m"
        sent: list[dict[str, Any]] = []

        async def receive(payload: bytes = orjson.dumps(body)) -> dict[str, Any]:
            return {"type": "http.request", "body": payload, "more_body": False}

        async def send(message: dict[str, Any], sent: list[dict[str, Any]] = sent) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "query_string": b"",
            "headers": HEADERS,
        }
        await app(scope, receive, send)
        assert sent[0]["type"] == "http.response.start"
        assert sent[-1].get("more_body", False) is False
        statuses.add(sent[0]["status"])
    assert statuses <= {200, 400}
    assert 200 in statuses and 400 in statuses
