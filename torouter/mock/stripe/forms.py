"""Stripe's request encoding, read back: `application/x-www-form-urlencoded` with brackets.

The official SDKs send nested parameters as `metadata[order_id]=…`, lists as indexed keys
(`line_items[0][quantity]=1`, `expand[0]=payment_intent`), some clients as `expand[]=…`, and
booleans as `true`/`false`. `decode_form` turns that back into dicts and lists of strings;
numbers and booleans stay strings, as Stripe's own parser sees them until a field is typed.
Pure functions.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["FormError", "decode_form", "form_bool", "form_int"]

_PART = re.compile(r"\[([^\[\]]*)\]")


class FormError(ValueError):
    """A parameter that cannot be read; `param` names it as Stripe would."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def _split(key: str) -> list[str]:
    head, bracket, _ = key.partition("[")
    if not bracket:
        return [key]
    rest = key[len(head) :]
    parts = _PART.findall(rest)
    if "".join(f"[{p}]" for p in parts) != rest or not head:
        raise FormError(f"Invalid parameter name: {key}", key)
    return [head, *parts]


def _listify(node: Any) -> Any:
    """Dicts whose keys are all indexes (or appends) become lists, in index order."""
    if not isinstance(node, dict):
        return node
    out = {k: _listify(v) for k, v in node.items()}
    if out and all(k.isdigit() or k.startswith("\x00") for k in out):
        return [
            out[k]
            for k in sorted(out, key=lambda k: (0, int(k)) if k.isdigit() else (1, int(k[1:])))
        ]
    return out


def decode_form(text: str) -> dict[str, Any]:
    """`a[b][0]=x&c=1` → `{"a": {"b": ["x"]}, "c": "1"}`."""
    root: dict[str, Any] = {}
    appended = 0
    for key, value in parse_qsl(text, keep_blank_values=True):
        parts = _split(key)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # `expand[]=x`: append, in arrival order
                part = f"\x00{appended}"
                appended += 1
            if last:
                if isinstance(node.get(part), dict):
                    raise FormError(f"Invalid parameter: {key}", key)
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise FormError(f"Invalid parameter: {key}", key)
                node = child
    result = _listify(root)
    assert isinstance(result, dict)
    return result


def form_int(params: dict[str, Any], name: str, *, default: int | None = None) -> int | None:
    """An integer parameter; FormError naming it when it is not one."""
    value = params.get(name)
    if value is None or value == "":
        return default
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise FormError(f"Invalid integer: {value}", name)
    return int(value)


def form_bool(value: Any) -> bool:
    return isinstance(value, str) and value.lower() == "true"
