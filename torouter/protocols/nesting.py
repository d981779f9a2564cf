"""How deep a JSON value may nest (issue 12 item 2; an E16 rule of R3.1, decided here). Pure.

Every path re-encodes JSON with orjson, which refuses values nested deeper than 254 levels, and
translations wrap client values a few levels deeper (a tool schema moves from `tools[].function`
to `tools[].functionDeclarations[]`, a Responses request is echoed inside its events). So one
limit, far below that ceiling and far above real traffic (tool schemas nest a few dozen levels
at most), is checked once when a body is parsed: deeper bodies are E16 on every front door, and
the gateway never recurses on or re-encodes anything it could not handle. JSON text carried
inside a body (tool-call arguments and tool results that translations parse into objects) is
held to the same limit where it is parsed.

The check costs two byte counts on an ordinary body: a value cannot nest deeper than it has
opening brackets. Only bodies with more brackets than the limit are walked, iteratively.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["MAX_JSON_DEPTH", "TooDeep", "body_too_deep", "exceeds", "loads"]

MAX_JSON_DEPTH = 128  # containers: `{}` is depth 1, `{"a": []}` depth 2


class TooDeep(ValueError):
    """JSON nested deeper than `MAX_JSON_DEPTH`."""


def body_too_deep(body: bytes, payload: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the parsed request `payload` (from `body`) nests deeper than `limit`."""
    if body.count(b"{") + body.count(b"[") <= limit:
        return False  # the common case: too few brackets to nest that deep
    return exceeds(payload, limit)


def exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `value` (parsed JSON) has containers nested deeper than `limit`; iterative, and
    it stops at the first level beyond the limit."""
    level = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below: list[Any] = []
        for node in level:
            for child in node.values() if isinstance(node, dict) else node:
                if isinstance(child, dict | list):
                    below.append(child)
        level = below
    return False


def loads(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> Any:
    """`orjson.loads` that refuses (with `TooDeep`) a value nested deeper than `limit`; for JSON
    text carried inside a body that a translation turns into an object."""
    value = orjson.loads(text)
    if isinstance(value, dict | list) and exceeds(value, limit):
        raise TooDeep(f"JSON nested deeper than {limit} levels")
    return value
