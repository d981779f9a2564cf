"""Translated exchanges as the gateway composes them (`gateway/exchange.py` →
`gateway/translated.py`), fed upstream bytes by the test, for every (front door × platform)
pair that R5.2 translates, whole and streamed.

Issue 12 item 11 (R5.4): an upstream tool call without an id, or with an empty one, reaches the
client with a generated unique id, so parallel results can be matched; a present id stays
verbatim. Item 12 (R4.4, R4.5): the counts a translated stream announces before the upstream's
own are the local token count, and Gemini clients never see a count that later shrinks.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest

from tests.gateway.kit import FRONT_OPERATION, OPENAI_WIRE, PLATFORMS, build, channel, context
from tests.protocols.test_nesting import depth_of
from torouter.errors import GatewayError
from torouter.gateway import exchange
from torouter.protocols import count_tokens, nesting
from torouter.protocols.nesting import MAX_JSON_DEPTH
from torouter.routing import matrix

FRONTS = ("openai", "responses", "anthropic", "gemini")


def pairs(*modes: str) -> list[tuple[str, str]]:
    """(front door, platform) of every R5.2 cell in one of `modes`."""
    return [
        (front, platform)
        for front in FRONTS
        for platform in PLATFORMS
        if matrix.MATRIX[FRONT_OPERATION[front]].get(platform) in modes
    ]


PAIRS = pairs(matrix.TRANSLATED)
WEATHER_OAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
WEATHER_ANT = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
WEATHER_GEM = {
    "functionDeclarations": [
        {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
}
ASK = "Weather in Paris and Rome?"
REQUEST: dict[str, dict[str, Any]] = {
    "openai": {
        "model": "m",
        "messages": [{"role": "user", "content": ASK}],
        "tools": [WEATHER_OAI],
    },
    "responses": {
        "model": "m",
        "input": ASK,
        "tools": [{"type": "function", "name": "get_weather", "parameters": {}}],
    },
    "anthropic": {
        "model": "m",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": ASK}],
        "tools": [WEATHER_ANT],
    },
    "gemini": {"contents": [{"role": "user", "parts": [{"text": ASK}]}], "tools": [WEATHER_GEM]},
}
CITIES = ("Paris", "Rome")


def _with_id(obj: dict[str, Any], key: str, value: str | None) -> dict[str, Any]:
    if value is not None:
        obj[key] = value
    return obj


# ── upstream answers with two parallel tool calls: ids as given (None = absent) ────────────


def upstream_body(platform: str, ids: tuple[str | None, str | None]) -> bytes:
    if platform in OPENAI_WIRE:
        calls = [
            _with_id(
                {
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": json.dumps({"city": c})},
                },
                "id",
                i,
            )
            for c, i in zip(CITIES, ids, strict=True)
        ]
        msg = {"role": "assistant", "content": None, "tool_calls": calls}
        body: dict[str, Any] = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "up",
            "choices": [{"index": 0, "message": msg, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
    elif platform == "anthropic":
        blocks = [
            _with_id({"type": "tool_use", "name": "get_weather", "input": {"city": c}}, "id", i)
            for c, i in zip(CITIES, ids, strict=True)
        ]
        body = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "up",
            "content": blocks,
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5},
        }
    else:
        parts = [
            {"functionCall": _with_id({"name": "get_weather", "args": {"city": c}}, "id", i)}
            for c, i in zip(CITIES, ids, strict=True)
        ]
        body = {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5},
            "modelVersion": "up",
            "responseId": "r1",
        }
    return orjson.dumps(body)


def _sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


def upstream_stream(platform: str, ids: tuple[str | None, str | None]) -> bytes:
    if platform in OPENAI_WIRE:
        out = []

        def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            out.append(_sse({"id": "c1", "model": "up", "created": 1, "choices": [choice]}))

        chunk({"role": "assistant", "content": None})
        for n, (city, i) in enumerate(zip(CITIES, ids, strict=True)):
            start = _with_id(
                {"index": n, "type": "function", "function": {"name": "get_weather"}}, "id", i
            )
            start["function"]["arguments"] = ""
            chunk({"tool_calls": [start]})
            args = json.dumps({"city": city})
            chunk({"tool_calls": [{"index": n, "function": {"arguments": args}}]})
        chunk({}, "tool_calls")
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        out.append(_sse({"id": "c1", "model": "up", "choices": [], "usage": usage}))
        out.append(b"data: [DONE]\n\n")
        return b"".join(out)
    if platform == "anthropic":
        start = {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "up",
                "content": [],
                "usage": {"input_tokens": 10, "output_tokens": 1},
            },
        }
        out = [_sse(start, "message_start")]
        for n, (city, i) in enumerate(zip(CITIES, ids, strict=True)):
            block = _with_id({"type": "tool_use", "name": "get_weather", "input": {}}, "id", i)
            begin = {"type": "content_block_start", "index": n, "content_block": block}
            out.append(_sse(begin, "content_block_start"))
            delta = {"type": "input_json_delta", "partial_json": json.dumps({"city": city})}
            body = {"type": "content_block_delta", "index": n, "delta": delta}
            out.append(_sse(body, "content_block_delta"))
            out.append(_sse({"type": "content_block_stop", "index": n}, "content_block_stop"))
        delta = {"stop_reason": "tool_use", "stop_sequence": None}
        final = {"type": "message_delta", "delta": delta, "usage": {"output_tokens": 5}}
        out.append(_sse(final, "message_delta"))
        out.append(_sse({"type": "message_stop"}, "message_stop"))
        return b"".join(out)
    events = []
    for n, (city, i) in enumerate(zip(CITIES, ids, strict=True)):
        call = _with_id({"name": "get_weather", "args": {"city": city}}, "id", i)
        cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"functionCall": call}]}}
        if n == 1:
            cand["finishReason"] = "STOP"
        obj = {
            "candidates": [cand],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5},
            "modelVersion": "up",
        }
        events.append(b"data: " + orjson.dumps(obj) + b"\r\n\r\n")
    return b"".join(events)


# ── what the client receives: (call id, city) per tool call ────────────────────────────────


def _events(raw: bytes) -> list[dict[str, Any]]:
    out = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        for line in block.split(b"\n"):
            if line.startswith(b"data: ") and line != b"data: [DONE]":
                out.append(json.loads(line[6:]))
    return out


def client_calls(front: str, raw: bytes, stream: bool) -> list[tuple[str, str]]:
    """(id, city) of each tool call in the client's answer, in order."""
    calls: list[tuple[str, str]] = []
    if not stream:
        obj = json.loads(raw)
        if front == "openai":
            for c in obj["choices"][0]["message"]["tool_calls"]:
                calls.append((c["id"], json.loads(c["function"]["arguments"])["city"]))
        elif front == "responses":
            for item in obj["output"]:
                if item["type"] == "function_call":
                    calls.append((item["call_id"], json.loads(item["arguments"])["city"]))
        elif front == "anthropic":
            for b in obj["content"]:
                if b["type"] == "tool_use":
                    calls.append((b["id"], b["input"]["city"]))
        else:
            for p in obj["candidates"][0]["content"]["parts"]:
                if "functionCall" in p:
                    calls.append((p["functionCall"]["id"], p["functionCall"]["args"]["city"]))
        return calls
    events = _events(raw)
    if front == "openai":
        ids: dict[int, str] = {}
        args: dict[int, str] = {}
        for ev in events:
            for choice in ev.get("choices") or ():
                for tc in choice["delta"].get("tool_calls") or ():
                    if "id" in tc:
                        ids[tc["index"]] = tc["id"]
                    args[tc["index"]] = args.get(tc["index"], "") + tc["function"]["arguments"]
        return [(ids[n], json.loads(args[n])["city"]) for n in sorted(ids)]
    if front == "responses":
        for ev in events:
            if ev["type"] == "response.output_item.done" and ev["item"]["type"] == "function_call":
                item = ev["item"]
                calls.append((item["call_id"], json.loads(item["arguments"])["city"]))
        return calls
    if front == "anthropic":
        ids_a: dict[int, str] = {}
        parts: dict[int, str] = {}
        for ev in events:
            if ev["type"] == "content_block_start" and ev["content_block"]["type"] == "tool_use":
                ids_a[ev["index"]] = ev["content_block"]["id"]
            elif ev["type"] == "content_block_delta" and ev["index"] in ids_a:
                parts[ev["index"]] = parts.get(ev["index"], "") + ev["delta"]["partial_json"]
        return [(ids_a[i], json.loads(parts[i])["city"]) for i in sorted(ids_a)]
    for ev in events:
        for p in ev["candidates"][0]["content"]["parts"]:
            if "functionCall" in p:
                calls.append((p["functionCall"]["id"], p["functionCall"]["args"]["city"]))
    return calls


def run(front: str, platform: str, ids: tuple[str | None, str | None], stream: bool) -> bytes:
    payload = dict(REQUEST[front])
    query = {"alt": "sse"} if front == "gemini" and stream else None
    if stream and front != "gemini":
        payload["stream"] = True
    ex = build(front, platform, payload, stream=stream, query=query)
    assert not ex.native
    if not stream:
        out, _, _ = ex.json_response(upstream_body(platform, ids))
        return out
    relayer = ex.stream_relayer(1 << 20)
    data = upstream_stream(platform, ids)
    # One upstream read per byte range of 7: ids must not depend on how reads are cut.
    out = b"".join(relayer.feed(data[i : i + 7]) for i in range(0, len(data), 7))
    return out + relayer.close()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("front", "platform"), PAIRS)
@pytest.mark.parametrize(
    "given", [(None, None), ("", ""), (None, "")], ids=["absent", "empty", "mixed"]
)
def test_missing_tool_call_ids_become_unique(
    front: str, platform: str, stream: bool, given: tuple[str | None, str | None]
) -> None:
    calls = client_calls(front, run(front, platform, given, stream), stream)
    assert [city for _, city in calls] == list(CITIES)
    ids = [i for i, _ in calls]
    assert all(isinstance(i, str) and i for i in ids), ids
    assert len(set(ids)) == 2, ids


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("front", "platform"), PAIRS)
def test_tool_call_ids_stay_verbatim(front: str, platform: str, stream: bool) -> None:
    given = ("toolu_01AbC", "call_xyz-9")
    calls = client_calls(front, run(front, platform, given, stream), stream)
    assert calls == list(zip(given, CITIES, strict=True))


# ── usage on translated streams (issue 12 item 12) ─────────────────────────────────────────


def upstream_text_stream(platform: str) -> bytes:
    """A three-piece text answer with the usage each platform reports, where it reports it."""
    pieces = ("Hello", " there", "!")
    if platform in OPENAI_WIRE:
        out = []
        for n, piece in enumerate(pieces):
            delta = {"role": "assistant", "content": piece} if n == 0 else {"content": piece}
            choice = {"index": 0, "delta": delta, "finish_reason": None}
            out.append(_sse({"id": "c1", "model": "up", "created": 1, "choices": [choice]}))
        done = {"index": 0, "delta": {}, "finish_reason": "stop"}
        out.append(_sse({"id": "c1", "model": "up", "created": 1, "choices": [done]}))
        usage = {"prompt_tokens": 31, "completion_tokens": 3, "total_tokens": 34}
        out.append(_sse({"id": "c1", "model": "up", "choices": [], "usage": usage}))
        return b"".join(out) + b"data: [DONE]\n\n"
    if platform == "anthropic":
        message = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "up",
            "content": [],
            "usage": {"input_tokens": 31, "output_tokens": 1},
        }
        out = [_sse({"type": "message_start", "message": message}, "message_start")]
        block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}
        out.append(_sse(block, "content_block_start"))
        for piece in pieces:
            delta = {"type": "content_block_delta", "index": 0}
            delta["delta"] = {"type": "text_delta", "text": piece}
            out.append(_sse(delta, "content_block_delta"))
        out.append(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
        final = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}
        final["usage"] = {"output_tokens": 3}
        out.append(_sse(final, "message_delta"))
        return b"".join(out) + _sse({"type": "message_stop"}, "message_stop")
    out = []
    for n, piece in enumerate(pieces):
        cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": piece}]}}
        if n == 2:
            cand["finishReason"] = "STOP"
        usage = {"promptTokenCount": 31, "candidatesTokenCount": n + 1}
        obj = {"candidates": [cand], "usageMetadata": usage, "modelVersion": "up"}
        out.append(b"data: " + orjson.dumps(obj) + b"\r\n\r\n")
    return b"".join(out)


ASK_LONG = {
    "model": "m",
    "max_tokens": 100,
    "system": "You are terse. " * 20,
    "messages": [{"role": "user", "content": "Say hello to the whole world, politely."}],
    "tools": [WEATHER_ANT],
    "metadata": {"user_id": "u-" + "x" * 300},  # bytes the admission estimate counts
    "stream": True,
}


@pytest.mark.parametrize("platform", [p for p in PLATFORMS if p != "anthropic"])
def test_message_start_input_is_the_local_token_count(platform: str) -> None:
    """R4.4: `message_start.usage.input_tokens` is what `count_tokens` answers locally
    (R10.7), not the admission estimate's body size / 4."""
    ex = build("anthropic", platform, ASK_LONG, stream=True)
    relayer = ex.stream_relayer(1 << 20)
    out = relayer.feed(upstream_text_stream(platform)) + relayer.close()
    start = next(e for e in _events(out) if e["type"] == "message_start")
    local = count_tokens.estimate(count_tokens.parse_anthropic(ASK_LONG))
    assert start["message"]["usage"]["input_tokens"] == local
    assert local != math.ceil(len(orjson.dumps(ASK_LONG)) / 4)
    delta = next(e for e in _events(out) if e["type"] == "message_delta")
    assert delta["usage"]["input_tokens"] == 31  # the upstream's count settles it


@pytest.mark.parametrize("platform", [p for p in PLATFORMS if p != "gemini"])
def test_gemini_interim_usage_never_shrinks(platform: str) -> None:
    """R4.5: interim events carry the running counts the upstream reported, never an estimate
    a later event contradicts; the last event carries the upstream's final counts."""
    ex = build("gemini", platform, REQUEST["gemini"], stream=True, query={"alt": "sse"})
    relayer = ex.stream_relayer(1 << 20)
    data = upstream_text_stream(platform)
    out = b"".join(relayer.feed(data[i : i + 9]) for i in range(0, len(data), 9))
    events = _events(out + relayer.close())
    assert "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in events)
    prompts = [e["usageMetadata"]["promptTokenCount"] for e in events if "usageMetadata" in e]
    assert prompts == sorted(prompts) and prompts[-1] == 31
    assert all(p == 31 for p in prompts)  # reported or absent, never a guess
    assert events[-1]["usageMetadata"]["candidatesTokenCount"] == 3


# ── nesting (issue 12 item 2) ───────────────────────────────────────────────────────────────


def _schema(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        node = {"type": "array", "items": node}
    return {"type": "object", "properties": {"x": node}}


def _tools(front: str, schema: dict[str, Any]) -> list[dict[str, Any]]:
    if front == "openai":
        return [{"type": "function", "function": {"name": "f", "parameters": schema}}]
    if front == "responses":
        return [{"type": "function", "name": "f", "parameters": schema}]
    if front == "anthropic":
        return [{"name": "f", "input_schema": schema}]
    return [{"functionDeclarations": [{"name": "f", "parameters": schema}]}]


def deep_request(front: str, depth: int) -> dict[str, Any]:
    """The front door's request with a tool schema making the whole body exactly `depth` deep."""
    levels = depth
    while True:
        payload = {**REQUEST[front], "tools": _tools(front, _schema(levels))}
        extra = depth_of(payload) - depth
        if extra == 0:
            return payload
        levels -= extra


ALL_PAIRS = pairs(matrix.NATIVE, matrix.TRANSLATED)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("front", "platform"), ALL_PAIRS)
def test_every_path_carries_the_deepest_allowed_body(
    front: str, platform: str, stream: bool
) -> None:
    """A body exactly `MAX_JSON_DEPTH` deep, nested in a tool schema (the field translations
    move deepest), is re-encoded for every platform and its answer rendered for the client."""
    payload = deep_request(front, MAX_JSON_DEPTH)
    assert not nesting.body_too_deep(orjson.dumps(payload), payload)
    if stream and front != "gemini":
        payload["stream"] = True
    query = {"alt": "sse"} if front == "gemini" and stream else None
    ex = build(front, platform, payload, stream=stream, query=query)
    assert isinstance(ex.body, bytes) and orjson.loads(ex.body)
    if ex.native:
        return  # relayed as received
    # The answer, whole or streamed, renders too (a Responses answer echoes the tools).
    if stream:
        relayer = ex.stream_relayer(1 << 20)
        relayer.feed(upstream_text_stream(platform))
        relayer.close()
        assert relayer.done
    else:
        out, _, _ = ex.json_response(upstream_body(platform, ("a", "b")))
        assert orjson.loads(out)


def _deep_json(levels: int) -> str:
    return "[" * levels + "]" * levels


def history_with_arguments(front: str, arguments: str) -> dict[str, Any]:
    """A conversation whose earlier tool call carries `arguments` (JSON text in the body)."""
    if front == "openai":
        call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
        messages = [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ]
        return {"model": "m", "messages": messages}
    items = [
        {"role": "user", "content": "go"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": arguments},
        {"type": "function_call_output", "call_id": "c1", "output": "done"},
    ]
    return {"model": "m", "input": items}


@pytest.mark.parametrize("platform", ["anthropic", "gemini"])
@pytest.mark.parametrize("front", ["openai", "responses"])
def test_embedded_tool_arguments_are_held_to_the_limit(front: str, platform: str) -> None:
    """Arguments are JSON text inside the body: a translation that must turn them into an
    object (Anthropic `input`, Gemini `args`) accepts the limit and refuses deeper as E16."""
    wrap = '{"a":' + _deep_json(MAX_JSON_DEPTH - 1) + "}"
    ex = build(front, platform, history_with_arguments(front, wrap))
    assert depth_of(orjson.loads(ex.body)) > MAX_JSON_DEPTH  # carried whole, and encodable
    too_deep = '{"a":' + _deep_json(MAX_JSON_DEPTH) + "}"
    with pytest.raises(GatewayError) as info:
        build(front, platform, history_with_arguments(front, too_deep))
    assert info.value.code == "INVALID_REQUEST" and str(MAX_JSON_DEPTH) in info.value.message


def test_gemini_tool_results_too_deep_travel_as_text() -> None:
    """A tool result is carried as an object when it parses within the limit, else as text."""
    deep = _deep_json(MAX_JSON_DEPTH + 1)
    payload = history_with_arguments("openai", "{}")
    payload["messages"][2]["content"] = deep
    sent = orjson.loads(build("openai", "gemini", payload).body)
    response = sent["contents"][-1]["parts"][0]["functionResponse"]["response"]
    assert response == {"result": deep}


# ── a stream's end and a replayed request (issue 20) ────────────────────────────────────────


@pytest.mark.parametrize(
    ("front", "platform"),
    [
        (f, p)
        for f in ("openai", "anthropic", "responses")
        for p in PLATFORMS
        if p != "gemini"
        and matrix.channel_mode(FRONT_OPERATION[f], channel(p)) == matrix.TRANSLATED
    ],
)
def test_stream_is_whole_at_the_upstreams_end_marker(front: str, platform: str) -> None:
    """The decoder's `Finish` is its last event (OpenAI's `[DONE]`, Anthropic's
    `message_stop`): the relay settles and ends the client's stream on that read, without
    waiting for the upstream's end of body; nothing is held back for `close`."""
    relayer = build(front, platform, REQUEST[front], stream=True).stream_relayer(1 << 20)
    data = upstream_text_stream(platform)
    relayer.feed(data[:-3])
    assert not relayer.done  # the end marker is not whole yet
    out = relayer.feed(data[-3:])
    assert relayer.done and relayer.usage is not None and relayer.usage.output == 3
    assert out and relayer.close() == b""


def test_gemini_stream_is_whole_only_at_its_end() -> None:
    """A Gemini stream has no end marker (usage may follow the finish reason): whole at
    `close`, the end of the upstream's body."""
    relayer = build("anthropic", "gemini", REQUEST["anthropic"], stream=True).stream_relayer(
        1 << 20
    )
    relayer.feed(upstream_text_stream("gemini"))
    assert not relayer.done
    assert b"message_stop" in relayer.close() and relayer.done


def test_rendering_leaves_the_parsed_request_for_failover() -> None:
    """What one platform drops is named on its own exchange; the parsed request, replayed on
    the next attempt, keeps its own list."""
    payload = {**REQUEST["anthropic"], "metadata": {"user_id": "u1"}, "top_k": 5}
    ctx = context(FRONT_OPERATION["anthropic"], payload, channels=(channel("openai"),))
    first = exchange.build(ctx, channel("openai"))
    assert ctx.internal is not None
    parsed = list(ctx.internal.dropped)
    second = exchange.build(ctx, channel("openai"))
    assert ctx.internal.dropped == parsed
    assert first.translation is not None and second.translation is not None
    assert first.translation.dropped == second.translation.dropped
    assert "top_k" in first.translation.dropped
