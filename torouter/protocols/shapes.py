"""The JSON types an upstream answer must have where a codec reads it (SPEC R9.4). Pure.

A codec reads an upstream body with `.get`, indexing and iteration, trusting the provider's
documented types. An upstream that breaks them (`"choices": "x"`, `"usage": []`, a message that
is a number) is a broken upstream: it fails over like a cut connection or invalid JSON, and the
client gets E21 (502 `upstream_unavailable`) when no channel is left. Without this check such a
body would raise `TypeError`, `KeyError` or `AttributeError` inside the codec, which the relay
rightly treats as the gateway's own bug (E20 with a traceback). So each codec checks the body
against its shape first, and the reading code stays as it is. In a stream, after the first
byte, an event of the wrong types ends the stream like an event that is not JSON (R4.6).

A shape is one of:
- a type or a tuple of types: the value's JSON type (`str`, `int`, `float`, `bool`, `list`,
  `dict`; `int` also admits `bool`, as Python does, which the readers tolerate);
- a dict `{key: shape}`: a JSON object whose listed keys, when present, have those shapes
  (other keys are not looked at);
- a one-item list `[shape]`: a JSON array whose items all have that shape.

`null` passes everywhere but as the whole answer: the codecs read a null field as an absent one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

__all__ = [
    "JSON_NUMBER",
    "JSON_SCALAR",
    "Shape",
    "UpstreamShapeError",
    "answer",
    "check",
    "checker",
]

Shape: TypeAlias = "type | tuple[type, ...] | dict[str, Shape] | list[Shape]"

JSON_NUMBER = (int, float)
JSON_SCALAR = (str, int, float)  # hashable JSON values: ids, enum-like strings


class UpstreamShapeError(ValueError):
    """An upstream answer with the wrong JSON type at `path` (a `ValueError`, like a body that
    is not JSON at all, so the relay fails the channel over, R9.4)."""

    def __init__(self, path: str, expected: str, got: object) -> None:
        super().__init__(f"upstream answer: {path} should be {expected}, not {_json_type(got)}")
        self.path = path


def answer(body: object, shape: dict[str, Shape]) -> dict[str, Any]:
    """The upstream's answer body, an object of this shape (not even `null` passes here)."""
    if not isinstance(body, dict):
        raise UpstreamShapeError("$", "an object", body)
    check(body, shape)
    return body


def check(value: object, shape: Shape, path: str = "$") -> None:
    """Raise `UpstreamShapeError` at the first place `value` breaks `shape`."""
    try:
        _check(value, shape)
    except _Wrong as wrong:
        where = path + "".join(reversed(wrong.trail))
        raise UpstreamShapeError(where, wrong.expected, wrong.got) from None


def checker(shape: Shape) -> Callable[[object], None]:
    """`check` against one fixed shape, compiled once: for the per-event checks of streams.

    The walk is decided when the checker is built (which keys are leaves, which nest), so a
    well-typed event costs one call per nested object or array and an `isinstance` per leaf,
    instead of `check`'s dispatch on the shape's kind at every level (measured: the largest
    single cost of a translated stream under cProfile). The verdicts and the error paths are
    `check`'s.
    """
    walk = _compile(shape)

    def run(value: object) -> None:
        try:
            walk(value)
        except _Wrong as wrong:
            where = "$" + "".join(reversed(wrong.trail))
            raise UpstreamShapeError(where, wrong.expected, wrong.got) from None

    return run


def _compile(shape: Shape) -> Callable[[object], None]:
    if isinstance(shape, dict):
        fields = [
            (key, inner, None) if isinstance(inner, type | tuple) else (key, None, _compile(inner))
            for key, inner in shape.items()
        ]

        def walk_object(value: object) -> None:
            if value is None:
                return
            if not isinstance(value, dict):
                raise _Wrong("an object", value)
            get = value.get
            for key, leaf, nested in fields:
                item = get(key)
                if item is None:
                    continue
                if leaf is not None:
                    if not isinstance(item, leaf):
                        wrong = _Wrong(_expected(leaf), item)
                        wrong.trail.append(f".{key}")
                        raise wrong
                    continue
                assert nested is not None
                try:
                    nested(item)
                except _Wrong as wrong:
                    wrong.trail.append(f".{key}")
                    raise

        return walk_object
    if isinstance(shape, list):
        (inner,) = shape
        each = _compile(inner)

        def walk_array(value: object) -> None:
            if value is None:
                return
            if not isinstance(value, list):
                raise _Wrong("an array", value)
            for i, item in enumerate(value):
                try:
                    each(item)
                except _Wrong as wrong:
                    wrong.trail.append(f"[{i}]")
                    raise

        return walk_array
    types = shape

    def walk_leaf(value: object) -> None:
        if value is not None and not isinstance(value, types):
            raise _Wrong(_expected(types), value)

    return walk_leaf


class _Wrong(Exception):
    """Raised inward, with the path collected on the way out: a well-typed value (every
    streamed event) builds no path strings."""

    def __init__(self, expected: str, got: object) -> None:
        self.expected = expected
        self.got = got
        self.trail: list[str] = []


def _check(value: object, shape: Shape) -> None:
    # `isinstance` against the builtin dict and list only (C-fast; the abstract collections
    # are several times slower): JSON decodes to plain dicts and lists. This runs per event.
    if value is None:
        return
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise _Wrong("an object", value)
        for key, inner in shape.items():
            item = value.get(key)
            if item is None:
                continue
            if isinstance(inner, type | tuple):  # a leaf, checked without a call
                if isinstance(item, inner):
                    continue
            try:
                _check(item, inner)
            except _Wrong as wrong:
                wrong.trail.append(f".{key}")
                raise
        return
    if isinstance(shape, list):
        if not isinstance(value, list):
            raise _Wrong("an array", value)
        (inner,) = shape
        for i, item in enumerate(value):
            try:
                _check(item, inner)
            except _Wrong as wrong:
                wrong.trail.append(f"[{i}]")
                raise
        return
    if not isinstance(value, shape):
        raise _Wrong(_expected(shape), value)


def _expected(shape: type | tuple[type, ...]) -> str:
    types = shape if isinstance(shape, tuple) else (shape,)
    return " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    for t, name in _TYPE_NAMES.items():
        if isinstance(value, t):
            return name
    return type(value).__name__


_TYPE_NAMES: dict[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    list: "an array",
    dict: "an object",
    bool: "a boolean",
}
