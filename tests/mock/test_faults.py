"""Directive parsing: pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torouter.mock.faults import NONE, Directives, merge, parse_header, parse_text, parse_tokens


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("429", Directives(status=429)),
        ("500", Directives(status=500)),
        ("529", Directives(status=529)),
        ("status=418", Directives(status=418)),
        ("timeout", Directives(timeout=True)),
        ("slow_first_byte=250", Directives(slow_first_byte_ms=250)),
        ("disconnect_after=5", Directives(disconnect_after=5)),
        ("error_after=2", Directives(error_after=2)),
        ("malformed", Directives(malformed=True)),
        ("no_usage", Directives(no_usage=True)),
        ("content_filter", Directives(content_filter=True)),
        ("cache=128", Directives(cache=128)),
        ("ttft_ms=50,chunks=20", Directives(ttft_ms=50, chunks=20)),
        ("chunk_interval_ms=7", Directives(chunk_interval_ms=7)),
        ("repeat=1000", Directives(repeat=1000)),
        ("tool", Directives(tool="")),
        ("tool=get_weather", Directives(tool="get_weather")),
        ("tools=3", Directives(tools=3)),
        ("tokens=100", Directives(tokens=100)),
        ("reasoning_content", Directives(reasoning_content=True)),
        ("retry_after=2.5", Directives(retry_after_s=2.5)),
        ("replay=openai-chat-text", Directives(replay="openai-chat-text")),
        (" 429 , retry_after=3 ", Directives(status=429, retry_after_s=3.0)),
        ("TIMEOUT", Directives(timeout=True)),
    ],
)
def test_tokens(spec: str, expected: Directives) -> None:
    assert parse_tokens(spec) == expected


@pytest.mark.parametrize(
    "spec",
    ["", "nonsense", "chunks=0", "status=99", "status=abc", "retry_after=x", "1234", "replay="],
)
def test_unknown_or_invalid_tokens_are_ignored(spec: str) -> None:
    assert parse_tokens(spec) is NONE


def test_text_directives_are_found_merged_and_removed() -> None:
    d, text = parse_text("Hello [[mock:429]] world [[mock:ttft_ms=50,chunks=4]] [[mock:500]]")
    assert d == Directives(status=500, ttft_ms=50, chunks=4)
    assert text == "Hello world"


def test_text_without_directive_is_untouched() -> None:
    text = "plain [[not a directive]] text"
    assert parse_text(text) == (NONE, text)


def test_header_values_merge_and_accept_brackets() -> None:
    assert parse_header(["429", "retry_after=2"]) == Directives(status=429, retry_after_s=2.0)
    assert parse_header(["[[mock:no_usage]]"]) == Directives(no_usage=True)


def test_merge_prefers_the_override() -> None:
    base = Directives(status=429, chunks=3)
    assert merge(base, Directives(chunks=5)) == Directives(status=429, chunks=5)
    assert merge(base, NONE) is base
    assert merge(NONE, base) is base


@given(st.text(max_size=200))
def test_parse_text_never_fails_and_never_keeps_a_directive(text: str) -> None:
    d, cleaned = parse_text(text + " [[mock:no_usage]]")
    assert d.no_usage is True
    assert "[[mock:no_usage]]" not in cleaned
