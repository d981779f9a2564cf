"""Deterministic text, plans, the prompt cache, config and replay helpers: pure units."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from torouter.mock import MockConfig, load_mock_config
from torouter.mock.cache import PromptCache
from torouter.mock.faults import NONE, Directives
from torouter.mock.plan import Ask, make_plan
from torouter.mock.replay import request_for, split_events
from torouter.mock.text import answer, sample_arguments, split_even, split_words, tokens


def test_answer_is_deterministic_and_echoes_the_prompt() -> None:
    text = answer("Tell me about the weather in Paris today please", 32, 20)
    assert text.startswith("This is a mock response to: Tell me about the weather in Paris today")
    assert text == answer("Tell me about the weather in Paris today please", 32, 20)
    assert len(text) >= 128
    assert len(text.split(" ")) >= 20


@pytest.mark.parametrize("n", [1, 3, 20, 50])
def test_split_words_is_lossless(n: int) -> None:
    text = answer("hello", 40, 20)
    pieces = split_words(text, n)
    assert "".join(pieces) == text
    assert len(pieces) == min(n, len(text.split(" ")))


def test_split_even_is_lossless() -> None:
    assert "".join(split_even('{"a":1,"b":"xyz"}', 4)) == '{"a":1,"b":"xyz"}'
    assert split_even("", 3) == [""]


def test_tokens_is_ceil_of_a_quarter() -> None:
    assert [tokens(n) for n in (0, 1, 4, 5, 8)] == [0, 1, 1, 2, 2]


def test_sample_arguments_follow_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "days": {"type": "integer", "minimum": 2},
            "tags": {"type": "array", "items": {"type": "string"}},
            "opt": {"anyOf": [{"type": "null"}, {"type": "boolean"}]},
            "nested": {"type": "OBJECT", "properties": {"x": {"type": "NUMBER"}}},
        },
    }
    assert sample_arguments(schema) == {
        "city": "mock",
        "unit": "c",
        "days": 2,
        "tags": ["mock"],
        "opt": True,
        "nested": {"x": 1},
    }


def test_plan_text_stop_sequence_max_tokens_and_filter() -> None:
    config = MockConfig()
    plan = make_plan(Ask("What is the capital of France"), NONE, config)
    assert plan.finish == "stop" and len(plan.pieces) == 20
    assert plan.output_tokens == tokens(len(plan.text))
    stopped = make_plan(Ask("What is the capital", stops=["capital"]), NONE, config)
    assert stopped.finish == "stop_sequence" and stopped.stop_sequence == "capital"
    assert "capital" not in stopped.text
    short = make_plan(Ask("hello", max_tokens=5), NONE, config)
    assert short.finish == "length" and short.output_tokens <= 5
    filtered = make_plan(Ask("hello"), Directives(content_filter=True), config)
    assert filtered.finish == "content_filter" and len(filtered.pieces) == 3


def test_plan_tool_calls() -> None:
    tools = [("a", {"type": "object", "properties": {"q": {"type": "string"}}}), ("b", None)]
    config = MockConfig()
    assert make_plan(Ask("x", tools), NONE, config).tool_calls == ()
    forced = make_plan(Ask("x", tools, "b"), NONE, config)
    assert [c.name for c in forced.tool_calls] == ["b"] and forced.finish == "tool_calls"
    asked = make_plan(Ask("x", tools), Directives(tool=""), config)
    assert asked.tool_calls[0].args == {"q": "mock"}
    assert orjson.loads(asked.tool_calls[0].arguments) == {"q": "mock"}
    parallel = make_plan(Ask("x", tools), Directives(tools=3), config)
    assert [c.name for c in parallel.tool_calls] == ["a", "b", "a"]
    after = make_plan(Ask("x", tools, after_tool_result=True), Directives(tool=""), config)
    assert after.tool_calls == () and after.text
    never = make_plan(Ask("x", tools, "none"), Directives(tool=""), config)
    assert never.tool_calls == ()


def test_plan_thinking() -> None:
    plan = make_plan(Ask("x", thinking_tokens=16), NONE, MockConfig())
    assert plan.thinking and plan.thinking_tokens == tokens(len(plan.thinking))
    assert plan.output_tokens == plan.text_tokens + plan.thinking_tokens


def test_prompt_cache_reads_repeated_prefixes_per_credential() -> None:
    cache = PromptCache(100)
    turn1 = [(("system", "s" * 400), 400), (("user", "u" * 400), 400)]
    first = cache.measure("k1", turn1)
    assert (first.prompt_tokens, first.cached_tokens) == (200, 0)
    turn2 = [*turn1, (("assistant", "a" * 40), 40), (("user", "v" * 40), 40)]
    second = cache.measure("k1", turn2)
    assert (second.prompt_tokens, second.cached_tokens) == (220, 200)
    assert cache.measure("k2", turn2).cached_tokens == 0
    assert cache.measure("k1", turn2).cached_tokens == 220
    assert cache.measure("k1", turn1, forced=7).cached_tokens == 7


def test_prompt_cache_reports_writes_up_to_the_breakpoint_and_is_bounded() -> None:
    cache = PromptCache(3)
    segments = [(("system", "s" * 400), 400), (("user", "u" * 40), 40)]
    usage = cache.measure("k", segments, breakpoint=0, write_1h=True)
    assert (usage.cached_tokens, usage.write_tokens, usage.write_1h) == (0, 100, True)
    assert cache.measure("k", segments, breakpoint=0).write_tokens == 0
    for i in range(10):
        cache.measure(f"other{i}", segments)
    assert len(cache) == 3


def test_config_file(tmp_path: Path) -> None:
    path = tmp_path / "mock.toml"
    path.write_text(
        'ttft_ms = 5\nchunks = 7\nkeys = ["sk-a"]\nseed = 3\n[faults]\n"429" = 0.5\n'
        '"disconnect_after=2" = 0\n'
    )
    config = load_mock_config(str(path))
    assert (config.ttft_ms, config.chunks, config.keys, config.seed) == (5, 7, ("sk-a",), 3)
    assert config.faults == ((Directives(status=429), 0.5),)
    nested = tmp_path / "main.toml"
    nested.write_text("[mock]\nchunk_interval_ms = 2\n")
    assert load_mock_config(str(nested)).chunk_interval_ms == 2
    assert load_mock_config(None) == MockConfig()


@pytest.mark.parametrize(
    "text",
    [
        "bogus = 1\n",
        "chunks = 0\n",
        'keys = "x"\n',
        '[faults]\n"nonsense" = 0.1\n',
        "[faults]\n429 = 2\n",
    ],
)
def test_config_rejects_bad_values(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match="mock config"):
        load_mock_config(str(path))


def test_split_events_is_lossless() -> None:
    sse = b"event: a\ndata: {}\n\nevent: b\ndata: {}\n\ndata: {}\r\n\r\ntail"
    events = split_events(sse)
    assert b"".join(events) == sse
    assert events[:3] == [b"event: a\ndata: {}\n\n", b"event: b\ndata: {}\n\n", b"data: {}\r\n\r\n"]


def test_request_for_synthesizes_minimal_requests() -> None:
    case = {"api": "messages", "stream": True, "request": {"path": "/v1/messages", "body": None}}
    request = request_for(case)
    assert request["path"] == "/v1/messages" and request["body"]["stream"] is True
    vertex = {
        "api": "streamGenerateContent",
        "stream": True,
        "request": {
            "path": "/v1/projects/R/locations/g/publishers/google/models/m-1:x",
            "body": None,
        },
    }
    request = request_for(vertex)
    assert request["path"] == "/v1beta/models/m-1:streamGenerateContent"
    assert request["query"] == {"alt": "sse"}
