"""Deterministic content: answer text, reasoning, tool arguments, token estimates, ids."""

from __future__ import annotations

import base64
import hashlib
import itertools
import math
import random
import secrets
from functools import lru_cache
from typing import Any

__all__ = [
    "answer",
    "answer_for",
    "embedding",
    "head",
    "new_id",
    "sample_arguments",
    "signature",
    "split_even",
    "split_words",
    "thinking_for",
    "thinking_text",
    "tokens",
]

_FILLER = (
    "The mock provider answers every prompt with the same steady words so that tests and "
    "benchmarks can rely on them while the gateway relays translates and meters each chunk"
).split()
_HEAD_WORDS = 8


def tokens(chars: int) -> int:
    """The mock's token estimate: ``ceil(chars / 4)``."""
    return (chars + 3) // 4


def head(prompt: str) -> str:
    """The first words of a prompt, which the answer echoes (bounded, whatever the prompt)."""
    words = prompt[:1024].split()[:_HEAD_WORDS]
    return " ".join(w[:40] for w in words) or "your message"


def _extend(words: list[str], min_chars: int, min_words: int) -> str:
    text = " ".join(words)
    filler = itertools.cycle(_FILLER)
    while len(text) < min_chars or len(words) < min_words:
        word = next(filler)
        words.append(word)
        text = f"{text} {word}"
    return text


def answer(prompt: str, n_tokens: int, chunks: int) -> str:
    """The answer to ``prompt``: an echo of its first words, padded to about ``n_tokens``."""
    return answer_for(head(prompt), n_tokens, chunks)


@lru_cache(maxsize=4096)
def answer_for(first_words: str, n_tokens: int, chunks: int) -> str:
    """``answer`` given the prompt's ``head`` (cached: keys stay small)."""
    words = f"This is a mock response to: {first_words}.".split()
    return _extend(words, max(1, n_tokens) * 4, chunks)


@lru_cache(maxsize=1024)
def thinking_for(first_words: str, n_tokens: int) -> str:
    """The reasoning text for a prompt whose ``head`` is ``first_words``."""
    words = f"Let me think about how to answer: {first_words}.".split()
    return _extend(words, max(1, n_tokens) * 4, 4)


def thinking_text(prompt: str, n_tokens: int) -> str:
    return thinking_for(head(prompt), n_tokens)


@lru_cache(maxsize=4096)
def split_words(text: str, n: int) -> tuple[str, ...]:
    """``text`` in at most ``n`` pieces cut before spaces; the pieces join back to ``text``."""
    if not text:
        return ()
    words = text.split(" ")
    n = max(1, min(n, len(words)))
    size, extra = divmod(len(words), n)
    pieces = []
    start = 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        piece = " ".join(words[start:end])
        pieces.append(piece if i == 0 else " " + piece)
        start = end
    return tuple(pieces)


def split_even(text: str, n: int) -> list[str]:
    """``text`` in at most ``n`` pieces of nearly equal length (for tool arguments)."""
    if not text:
        return [""]
    n = max(1, min(n, len(text)))
    size = -(-len(text) // n)
    return [text[i : i + size] for i in range(0, len(text), size)]


@lru_cache(maxsize=1024)
def signature(text: str, length: int = 96) -> str:
    """A stable, opaque base64 signature for a reasoning text."""
    digest = hashlib.sha256(text.encode()).digest()
    raw = (digest * (length // len(digest) + 1))[:length]
    return base64.b64encode(b"\x12\x04mock" + raw).decode()


_PROCESS = secrets.token_hex(5)
_COUNTER = itertools.count(1)


def new_id(length: int = 24) -> str:
    """A unique hexadecimal id: a per-process random prefix, then a counter."""
    return "%s%0*x" % (_PROCESS, length - 10, next(_COUNTER))  # noqa: UP031 (faster)


def sample_arguments(schema: Any, depth: int = 0) -> Any:
    """A deterministic value that satisfies the common shapes of a JSON schema."""
    if not isinstance(schema, dict) or depth > 5:
        return "mock"
    for combo in ("anyOf", "oneOf", "allOf", "any_of"):
        options = schema.get(combo)
        if isinstance(options, list) and options:
            usable = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
            return sample_arguments(usable[0] if usable else options[0], depth + 1)
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    kind = str(kind).lower() if kind else ("object" if "properties" in schema else "string")
    if kind == "object":
        props = schema.get("properties")
        if not isinstance(props, dict):
            return {}
        return {name: sample_arguments(sub, depth + 1) for name, sub in props.items()}
    if kind == "array":
        return [sample_arguments(schema.get("items"), depth + 1)] if schema.get("items") else []
    if kind in ("integer", "number"):
        low = schema.get("minimum")
        return low if isinstance(low, int | float) else 1
    if kind == "boolean":
        return True
    return "mock"


def embedding(text: str, dims: int) -> tuple[float, ...]:
    """A unit vector of ``dims`` floats that depends only on ``text``."""
    return _embedding(hashlib.sha256(text.encode()).digest()[:8], dims)


@lru_cache(maxsize=2048)
def _embedding(digest: bytes, dims: int) -> tuple[float, ...]:
    rng = random.Random(int.from_bytes(digest, "little"))
    raw = [rng.gauss(0.0, 1.0) for _ in range(max(1, dims))]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return tuple(round(x / norm, 8) for x in raw)
