"""The input side of the admission estimate (SPEC R7.9). Pure.

Text bytes / 4, where base64 image data is not counted and each image part counts 1,600 tokens,
the whole at most the model's context length. Bodies without any image marker (nearly all) cost
one byte search; only the others are walked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["IMAGE_TOKENS", "input_tokens", "requested_choices", "requested_images"]

IMAGE_TOKENS = 1_600
_MARKERS = (b"image", b"inlineData", b"inline_data")


def input_tokens(body: bytes, payload: Any, context_length: int | None = None) -> tuple[int, int]:
    """(estimated input tokens, image parts) of a JSON request body and its parsed payload."""
    if not any(m in body for m in _MARKERS):
        tokens, images = math.ceil(len(body) / 4), 0
    else:
        found = _Found()
        found.walk(payload)
        text = max(len(body) - found.base64_chars, 0)
        tokens, images = math.ceil(text / 4) + IMAGE_TOKENS * found.images, found.images
    if context_length:
        tokens = min(tokens, context_length)
    return tokens, images


def requested_images(operation: str, payload: Any) -> int:
    """Images an image-generation request asks for (`n`, default 1): priced per image."""
    if operation not in ("images", "image_edits") or not isinstance(payload, Mapping):
        return 0
    n = payload.get("n")
    return n if isinstance(n, int) and n > 0 else 1


def requested_choices(operation: str, payload: Any) -> int:
    """How many answers one request asks for (R7.9): each is billed its own output, so the
    output side of the estimate counts every one. Chat `n`, legacy completions `n` and
    `best_of` (generated and billed though not returned), Gemini `candidateCount`."""
    if not isinstance(payload, dict):
        return 1
    if operation == "chat":
        return _count(payload.get("n"))
    if operation == "completions":
        return max(_count(payload.get("n")), _count(payload.get("best_of")))
    if operation == "generate":
        cfg = payload.get("generationConfig")
        if isinstance(cfg, dict):
            return _count(cfg.get("candidateCount", cfg.get("candidate_count")))
    return 1


def _count(n: Any) -> int:
    return n if type(n) is int and n > 1 else 1  # bools and junk ask for one answer


def _data_url_len(url: Any) -> int:
    return len(url) if isinstance(url, str) and url.startswith("data:") else 0


class _Found:
    def __init__(self) -> None:
        self.images = 0
        self.base64_chars = 0

    def walk(self, root: Any) -> None:
        """Every image part under `root`, with an explicit stack: no recursion, so no body,
        however deep, can exhaust the interpreter's stack (the order is irrelevant: sums)."""
        stack = [root]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(v for v in node if isinstance(v, list | Mapping))
            elif isinstance(node, Mapping) and not self._part(node):
                stack.extend(v for v in node.values() if isinstance(v, list | Mapping))

    def _part(self, node: Mapping[str, Any]) -> bool:
        """Count `node` if it is an image part of any of the three protocols."""
        kind = node.get("type")
        if kind == "image_url":  # OpenAI chat
            url = node.get("image_url")
            url = url.get("url") if isinstance(url, Mapping) else url
            self._image(_data_url_len(url))
            return True
        if kind == "input_image":  # OpenAI Responses
            self._image(_data_url_len(node.get("image_url")))
            return True
        if kind == "image" and isinstance(node.get("source"), Mapping):  # Anthropic
            source = node["source"]
            data = source.get("data") if source.get("type") == "base64" else None
            self._image(len(data) if isinstance(data, str) else 0)
            return True
        for key in ("inlineData", "inline_data", "fileData", "file_data"):  # Gemini
            blob = node.get(key)
            if isinstance(blob, Mapping):
                mime = blob.get("mimeType") or blob.get("mime_type") or ""
                data = blob.get("data")
                if isinstance(mime, str) and mime.startswith("image/"):
                    self._image(len(data) if isinstance(data, str) else 0)
                return True
        return False

    def _image(self, base64_chars: int) -> None:
        self.images += 1
        self.base64_chars += base64_chars
