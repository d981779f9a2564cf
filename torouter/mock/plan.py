"""What to answer, decided once per request and independent of the wire format.

Each provider module reads its request into an ``Ask``; ``make_plan`` turns it, the directives and
the config into a ``Plan`` (text pieces, reasoning, tool calls, stop reason, token counts) that the
provider then renders as JSON or as a stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

from torouter.mock.config import MockConfig
from torouter.mock.faults import Directives
from torouter.mock.structured import JsonWant, sample
from torouter.mock.text import (
    answer_for,
    head,
    new_id,
    sample_arguments,
    split_even,
    split_words,
    thinking_for,
    tokens,
)

__all__ = ["Ask", "Plan", "ToolCall", "make_plan"]

# Stop reasons, provider-neutral: "stop", "length", "tool_calls", "content_filter", "stop_sequence"


@dataclass(frozen=True, slots=True)
class ToolCall:
    tag: str  # unique; each provider adds its own id prefix
    name: str
    arguments: str  # compact JSON text
    args: dict[str, Any]


@dataclass(slots=True)
class Ask:
    prompt: str  # the last user text, directives removed
    tools: Sequence[tuple[str, Any]] = ()  # (name, JSON schema of the arguments)
    tool_choice: str | None = None  # None: auto; "": any tool; "<name>": that tool; "none": never
    after_tool_result: bool = False  # the last turn is a tool result
    max_tokens: int | None = None
    stops: Sequence[str] = ()
    thinking_tokens: int = 0  # 0: no reasoning
    json: JsonWant | None = None  # the client asked for JSON (structured output)


@dataclass(slots=True, eq=False)
class Plan:  # hashed by identity: equal inputs give the same (cached) plan object
    text: str
    pieces: tuple[str, ...]
    finish: str
    thinking: str = ""
    thinking_pieces: tuple[str, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    stop_sequence: str | None = None
    text_tokens: int = 0
    thinking_tokens: int = 0
    tool_tokens: int = field(default=0)

    @property
    def output_tokens(self) -> int:
        return self.text_tokens + self.thinking_tokens + self.tool_tokens


def _tool_calls(ask: Ask, d: Directives) -> tuple[ToolCall, ...]:
    if not ask.tools or ask.tool_choice == "none":
        return ()
    want = ask.tool_choice
    if want is None and (d.tool is not None or d.tools) and not ask.after_tool_result:
        want = d.tool or ""
    if want is None:
        return ()
    names = [name for name, _ in ask.tools]
    start = names.index(want) if want in names else 0
    calls = []
    for i in range(max(1, d.tools or 1)):
        name, schema = ask.tools[(start + i) % len(ask.tools)]
        args = sample_arguments(schema) if schema else {}
        if not isinstance(args, dict):
            args = {}
        calls.append(ToolCall(new_id(), name, orjson.dumps(args).decode(), args))
    return tuple(calls)


def make_plan(ask: Ask, d: Directives, config: MockConfig) -> Plan:
    """The answer for ``ask``. Plans are shared between requests: never mutate one."""
    chunks = d.chunks or config.chunks
    n_tokens = d.tokens or config.output_tokens
    max_tokens = ask.max_tokens if isinstance(ask.max_tokens, int) else None
    if ask.json is not None and not _tool_calls(ask, d):
        return _json_plan(ask, chunks)
    if not ask.tools and not ask.stops:
        return _text_plan(
            ask.prompt, n_tokens, chunks, max_tokens, ask.thinking_tokens, bool(d.content_filter)
        )
    calls = _tool_calls(ask, d)
    if not calls:
        return _text_plan(
            head(ask.prompt), n_tokens, chunks, max_tokens, ask.thinking_tokens,
            bool(d.content_filter), tuple(ask.stops),
        )  # fmt: skip
    thinking, thinking_pieces, thinking_tokens = _thinking(head(ask.prompt), ask.thinking_tokens)
    tool_tokens = sum(tokens(len(c.name) + len(c.arguments)) for c in calls)
    return Plan(
        "",
        (),
        "tool_calls",
        thinking,
        thinking_pieces,
        calls,
        None,
        0,
        thinking_tokens,
        tool_tokens,
    )


def _json_plan(ask: Ask, chunks: int) -> Plan:
    """A JSON answer that fits the requested schema (never cut by max_tokens: a client that
    asked for JSON must be able to parse it)."""
    assert ask.json is not None
    text = orjson.dumps(sample(ask.json.schema, filler=head(ask.prompt) or "mock")).decode()
    thinking, thinking_pieces, thinking_tokens = _thinking(head(ask.prompt), ask.thinking_tokens)
    pieces = tuple(split_even(text, max(1, chunks)))
    return Plan(
        text, pieces, "stop", thinking, thinking_pieces, (), None, tokens(len(text)),
        thinking_tokens,
    )  # fmt: skip


def _thinking(first_words: str, n_tokens: int) -> tuple[str, tuple[str, ...], int]:
    if n_tokens <= 0:
        return "", (), 0
    text = thinking_for(first_words, n_tokens)
    return text, split_words(text, 4), tokens(len(text))


@lru_cache(maxsize=4096)
def _text_plan(
    first_words: str,
    n_tokens: int,
    chunks: int,
    max_tokens: int | None,
    thinking_budget: int,
    filtered: bool,
    stops: tuple[str, ...] = (),
) -> Plan:
    thinking, thinking_pieces, thinking_tokens = _thinking(first_words, thinking_budget)
    text = answer_for(first_words, n_tokens, chunks)
    finish = "stop"
    stop_sequence = None
    first = -1
    for stop in stops:
        at = text.find(stop) if stop else -1
        if at >= 0 and (first < 0 or at < first):
            first, stop_sequence = at, stop
    if first >= 0:
        text, finish = text[:first], "stop_sequence"
    if max_tokens is not None:
        room = max(0, max_tokens - thinking_tokens)
        if tokens(len(text)) > room:
            text, finish, stop_sequence = text[: room * 4], "length", None
    pieces = split_words(text, chunks)
    if filtered:
        pieces = pieces[:3]
        text = "".join(pieces)
        finish, stop_sequence = "content_filter", None
    return Plan(
        text, pieces, finish, thinking, thinking_pieces, (), stop_sequence, tokens(len(text)),
        thinking_tokens,
    )  # fmt: skip
