"""The admission estimate's input (SPEC R7.9): base64 image data is not counted, each image part
counts 1,600 tokens, the whole at most the context length; per-image prices for `n` images."""

from __future__ import annotations

import math
from decimal import Decimal as D
from typing import Any

import orjson
import pytest

from torouter.billing.estimate import (
    IMAGE_TOKENS,
    input_tokens,
    requested_choices,
    requested_images,
)
from torouter.billing.pricing import Prices, estimate_nusd

B64 = "iVBORw0KGgo" * 10_000  # 110,000 base64 characters
DATA_URL = "data:image/png;base64," + B64

OPENAI = {
    "model": "m",
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": DATA_URL, "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        }
    ],
}
RESPONSES = {
    "model": "m",
    "input": [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "what is this?"},
                {"type": "input_image", "image_url": DATA_URL},
            ],
        }
    ],
}
ANTHROPIC = {
    "model": "m",
    "max_tokens": 10,
    "messages": [
        {
            "role": "user",
            "content": [
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": B64},
                },
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                {"type": "text", "text": "what is this?"},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": [
                        {"type": "image", "source": {"type": "base64", "data": B64}},
                    ],
                }
            ],
        },
    ],
}
GEMINI = {
    "contents": [
        {
            "role": "user",
            "parts": [
                {"text": "what is this?"},
                {"inlineData": {"mimeType": "image/png", "data": B64}},
                {"inline_data": {"mime_type": "application/pdf", "data": "JVBERi0x"}},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://b/a.jpg"}},
            ],
        }
    ]
}


@pytest.mark.parametrize(
    ("payload", "images", "base64_chars"),
    [
        (OPENAI, 2, len(DATA_URL)),
        (RESPONSES, 1, len(DATA_URL)),
        (ANTHROPIC, 3, 2 * len(B64)),
        (GEMINI, 2, len(B64)),  # a PDF is not an image: its bytes count as text
    ],
    ids=["openai", "responses", "anthropic", "gemini"],
)
def test_images_count_1600_and_their_data_nothing(
    payload: dict[str, Any], images: int, base64_chars: int
) -> None:
    body = orjson.dumps(payload)
    tokens, found = input_tokens(body, payload)
    assert found == images
    assert tokens == math.ceil((len(body) - base64_chars) / 4) + IMAGE_TOKENS * images
    assert tokens < len(body) / 4  # far below the naive bytes / 4


def test_plain_text_is_bytes_over_four_and_capped_by_context() -> None:
    payload = {"model": "m", "messages": [{"role": "user", "content": "x" * 10_001}]}
    body = orjson.dumps(payload)
    assert input_tokens(body, payload) == (math.ceil(len(body) / 4), 0)
    assert input_tokens(body, payload, context_length=1000) == (1000, 0)
    # The word "image" in text alone changes nothing.
    payload = {"model": "m", "messages": [{"role": "user", "content": "an image of a cat"}]}
    body = orjson.dumps(payload)
    assert input_tokens(body, payload) == (math.ceil(len(body) / 4), 0)


@pytest.mark.parametrize(
    ("operation", "payload", "n"),
    [
        ("images", {"prompt": "a cat"}, 1),
        ("images", {"prompt": "a cat", "n": 4}, 4),
        ("image_edits", {"n": 2}, 2),
        ("chat", {"n": 3}, 0),
    ],
)
def test_requested_images(operation: str, payload: dict[str, Any], n: int) -> None:
    assert requested_images(operation, payload) == n


def test_estimate_includes_per_request_and_per_image_prices() -> None:
    prices = Prices(per_request=D("0.01"), per_image=D("0.04"))
    assert estimate_nusd(0, None, prices, D(1), images=3) == 10_000_000 + 3 * 40_000_000


def _nested(depth: int) -> Any:
    """An image part at the bottom of `depth` nested lists (Python objects: no parser limit)."""
    node: Any = {"type": "image_url", "image_url": {"url": DATA_URL}}
    for _ in range(depth):
        node = [node]
    return node


@pytest.mark.parametrize("depth", [1, 100, 1_000, 5_000, 50_000])
def test_the_image_walk_is_iterative(depth: int) -> None:
    """Issue 12 item 2: ~1,000 levels used to exhaust the recursion; any depth is walked."""
    payload = {"model": "m", "messages": _nested(depth)}
    body = b'{"model":"m","messages":' + b"[" * depth + orjson.dumps(_nested(0)) + b"]" * depth
    tokens, images = input_tokens(body, payload)
    assert images == 1
    assert tokens == math.ceil((len(body) - len(DATA_URL)) / 4) + IMAGE_TOKENS


@pytest.mark.parametrize(
    ("operation", "payload", "n"),
    [
        ("chat", {}, 1),
        ("chat", {"n": 1}, 1),
        ("chat", {"n": 4}, 4),
        ("chat", {"n": 0}, 1),  # invalid: the upstream refuses it, the estimate stays sane
        ("chat", {"n": True}, 1),
        ("chat", {"n": "4"}, 1),
        ("completions", {"n": 2, "best_of": 5}, 5),  # best_of answers are generated and billed
        ("completions", {"n": 3}, 3),
        ("generate", {"generationConfig": {"candidateCount": 3}}, 3),
        ("generate", {"generation_config": {"candidateCount": 3}}, 1),
        ("generate", {"generationConfig": {"candidate_count": 2}}, 2),
        ("messages", {"n": 4}, 1),  # no such field on the Anthropic front door
        ("responses", {"n": 4}, 1),
        ("embeddings", {"n": 4}, 1),
    ],
)
def test_requested_choices(operation: str, payload: dict[str, Any], n: int) -> None:
    assert requested_choices(operation, payload) == n


def test_every_choice_reserves_its_output_and_the_input_once() -> None:
    """R7.9 (issue 12 item 14): n answers cost n outputs; the prompt is sent once."""
    prices = Prices(input=D(1), output=D(10))
    one = estimate_nusd(100, 1000, prices, D(1))
    four = estimate_nusd(100, 1000, prices, D(1), choices=4)
    assert one == 100 * 1000 + 1000 * 10_000
    assert four == 100 * 1000 + 4 * 1000 * 10_000
    # The output cap applies to each answer, not to their sum.
    capped = estimate_nusd(0, 50_000, prices, D(1), output_cap=8192, choices=3)
    assert capped == 3 * 8192 * 10_000
    assert estimate_nusd(0, None, prices, D(1), choices=2) == 2 * 1024 * 10_000
