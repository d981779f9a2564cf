"""Structured output for the mock providers: JSON answers that parse and fit the schema.

Clients that ask for JSON (instructor's JSON modes, the Vercel AI SDK's `generateObject`,
LangChain's `with_structured_output`) parse the answer; the mock's prose made them fail on the
demo even on native routes. Each provider's request names the format its own way:
- OpenAI chat: `response_format` `{"type": "json_object"}` or `{"type": "json_schema",
  "json_schema": {"schema": …}}`;
- OpenAI Responses: `text.format`, the same two types (the schema inline);
- Gemini: `generationConfig.responseMimeType: "application/json"`, with `responseSchema`
  (OpenAPI subset, upper-case types) or `responseJsonSchema`;
- Anthropic: `output_format` `{"type": "json_schema", "schema": …}`.
An open schema (an object without properties, or plain JSON mode) is filled with something.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "JsonWant",
    "anthropic_want",
    "chat_want",
    "gemini_want",
    "responses_want",
    "sample",
]

_MAX_DEPTH = 8
_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "12:00:00",
    "email": "mock@example.com",
    "uri": "https://example.com/mock",
    "url": "https://example.com/mock",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}


@dataclass(frozen=True, slots=True)
class JsonWant:
    """A request for JSON output; `schema` None is plain JSON mode."""

    schema: Any = None


def chat_want(body: dict[str, Any]) -> JsonWant | None:
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return JsonWant()
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        return JsonWant(spec.get("schema") if isinstance(spec, dict) else None)
    return None


def responses_want(body: dict[str, Any]) -> JsonWant | None:
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return JsonWant()
    if fmt.get("type") == "json_schema":
        return JsonWant(fmt.get("schema"))
    return None


def gemini_want(body: dict[str, Any]) -> JsonWant | None:
    gen = body.get("generationConfig") or body.get("generation_config")
    if not isinstance(gen, dict):
        return None
    mime = gen.get("responseMimeType") or gen.get("response_mime_type")
    schema = next(
        (
            gen[k]
            for k in (
                "responseJsonSchema",
                "response_json_schema",
                "responseSchema",
                "response_schema",
            )
            if isinstance(gen.get(k), dict)
        ),
        None,
    )
    if mime == "application/json" or schema is not None:
        return JsonWant(schema)
    return None


def anthropic_want(body: dict[str, Any]) -> JsonWant | None:
    fmt = body.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return JsonWant(fmt.get("schema"))
    return None


def sample(schema: Any, filler: str = "mock") -> Any:
    """A deterministic value valid against the common shapes of a JSON schema (or Gemini's
    OpenAPI subset); `$ref`s resolve against the root's `$defs`/`definitions`."""
    if not isinstance(schema, dict):
        return {"answer": filler}
    return _sample(schema, schema, filler, 0)


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    seen = 0
    while isinstance(ref, str) and ref.startswith("#") and seen < _MAX_DEPTH:
        target: Any = root
        for part in ref.lstrip("#").strip("/").split("/"):
            if not part:
                continue
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
            if not isinstance(target, dict):
                return {}
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        ref = target.get("$ref")
        seen += 1
    return node


def _sample(node: Any, root: dict[str, Any], filler: str, depth: int) -> Any:
    if not isinstance(node, dict) or depth > _MAX_DEPTH:
        return filler
    node = _resolve(node, root)
    for combo in ("anyOf", "oneOf", "any_of", "one_of"):
        options = node.get(combo)
        if isinstance(options, list) and options:
            usable = [o for o in options if isinstance(o, dict) and _kind(o, root) != "null"]
            return _sample((usable or options)[0], root, filler, depth + 1)
    parts = node.get("allOf")
    if isinstance(parts, list) and parts:
        merged: dict[str, Any] = {}
        for part in parts:
            if isinstance(part, dict):
                merged.update(_resolve(part, root))
        return _sample(merged, root, filler, depth + 1)
    if isinstance(node.get("enum"), list) and node["enum"]:
        return node["enum"][0]
    if "const" in node:
        return node["const"]
    if "default" in node and node["default"] is not None:
        return node["default"]
    kind = _kind(node, root)
    if kind == "object":
        props = node.get("properties")
        if not isinstance(props, dict) or not props:
            return {"answer": filler}  # an open object: filled with something
        return {name: _sample(sub, root, filler, depth + 1) for name, sub in props.items()}
    if kind == "array":
        items = node.get("items")
        low = node.get("minItems", node.get("min_items"))
        count = max(1, int(low) if isinstance(low, int | str) and str(low).isdigit() else 1)
        if isinstance(node.get("prefixItems"), list):
            return [_sample(s, root, filler, depth + 1) for s in node["prefixItems"]]
        return [_sample(items, root, filler, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        for key in ("minimum", "exclusiveMinimum"):
            low = node.get(key)
            if isinstance(low, int | float) and not isinstance(low, bool):
                value = low + (1 if key == "exclusiveMinimum" else 0)
                return int(value) if kind == "integer" else value
        high = node.get("maximum")
        if isinstance(high, int | float) and not isinstance(high, bool) and high < 1:
            return int(high) if kind == "integer" else high
        return 1
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    fmt = node.get("format")
    text = _FORMATS.get(fmt, filler) if isinstance(fmt, str) else filler
    low = node.get("minLength")
    if isinstance(low, int) and len(text) < low:
        text = (text + " " + filler * low)[:low]
    high = node.get("maxLength")
    if isinstance(high, int) and len(text) > high:
        text = text[:high]
    return text


def _kind(node: dict[str, Any], root: dict[str, Any]) -> str:
    node = _resolve(node, root)
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    if kind:
        return str(kind).lower()  # Gemini's OpenAPI subset writes OBJECT, STRING…
    if "properties" in node:
        return "object"
    if "items" in node:
        return "array"
    return "string"
