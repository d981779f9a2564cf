"""The JSON nesting limit (issue 12 item 2): exact depth, on any JSON, cheap on ordinary bodies."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torouter.protocols import nesting
from torouter.protocols.nesting import MAX_JSON_DEPTH, TooDeep, body_too_deep, exceeds


def depth_of(value: Any) -> int:
    """The reference: containers on the longest path, by a plain depth-first search."""
    best, stack = 0, [(value, 0)]
    while stack:
        node, above = stack.pop()
        if isinstance(node, dict | list):
            best = max(best, above + 1)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, above + 1) for child in children)
    return best


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text(alphabet='[]{}"\\ab', max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=40,
)


@given(JSON, st.integers(min_value=0, max_value=12))
@settings(max_examples=300)
def test_exceeds_matches_the_reference(value: Any, limit: int) -> None:
    body = orjson.dumps(value)
    assert exceeds(value, limit) == (depth_of(value) > limit)
    assert body_too_deep(body, value, limit) == (depth_of(value) > limit)


def wrapped(depth: int) -> tuple[bytes, Any]:
    """A request body whose deepest container is `depth` levels down (the object itself is 1)."""
    inner = b"[" * (depth - 1) + b"]" * (depth - 1) if depth > 1 else b"0"
    body = b'{"model":"m","x":' + inner + b"}"
    return body, orjson.loads(body) if depth <= 1024 else None


@pytest.mark.parametrize("depth", [*range(1, 140), 254, 255, 1000, 1023, 1024])
def test_table_of_depths(depth: int) -> None:
    body, payload = wrapped(depth)
    assert depth_of(payload) == depth
    assert body_too_deep(body, payload) == (depth > MAX_JSON_DEPTH)


def test_limit_holds_for_wide_shallow_bodies() -> None:
    """Many brackets, little depth (a long chat history): walked, and allowed."""
    payload = {"messages": [{"role": "user", "content": [{"type": "text"}]}] * 5_000}
    body = orjson.dumps(payload)
    assert body.count(b"{") > MAX_JSON_DEPTH and not body_too_deep(body, payload)


def test_brackets_inside_strings_do_not_count() -> None:
    payload = {"a": "[" * 500 + "{" * 500}
    assert not body_too_deep(orjson.dumps(payload), payload)


def test_ordinary_bodies_cost_two_byte_counts() -> None:
    """The benchmark's kind of body never reaches the walk."""
    payload = {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": "Tell me about routing gateways " * 5}],
        "max_tokens": 100,
    }
    body = orjson.dumps(payload)
    calls = []
    original = nesting.exceeds
    nesting.exceeds = lambda *a: calls.append(a) or original(*a)  # type: ignore[assignment]
    try:
        assert not nesting.body_too_deep(body, payload)
    finally:
        nesting.exceeds = original  # type: ignore[assignment]
    assert calls == []
    start = time.perf_counter()
    for _ in range(10_000):
        nesting.body_too_deep(body, payload)
    assert (time.perf_counter() - start) / 10_000 < 50e-6  # generous: a loaded CI machine


def test_embedded_json_is_held_to_the_limit() -> None:
    ok = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert nesting.loads(ok) is not None
    with pytest.raises(TooDeep):
        nesting.loads("[" + ok + "]")
    with pytest.raises(orjson.JSONDecodeError):
        nesting.loads("{")
