"""OpenAI chat completions on the wire (SPEC R4.2, R5.3, R5.4).

Pure functions. Pass-through needs only usage extraction from a completed JSON body and the
per-read scan of a stream that finds the usage chunk and drops it when the client did not ask.
Translation converts request and response bodies to and from the internal shape; the stream
decoder and encoder live in `openai_chat_stream.py` and are re-exported here.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from torouter.errors import GatewayError, error
from torouter.protocols import shapes
from torouter.protocols.common import dumps, effort_for, parse_data_uri, upstream_call_id
from torouter.protocols.internal import (
    TOOL_MODES,
    ImagePart,
    Message,
    Part,
    Reasoning,
    Request,
    Response,
    ResponseFormat,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)
from torouter.protocols.openai_chat_stream import (
    STOP_REASONS,
    STOP_REASONS_IN,
    StreamDecoder,
    StreamEncoder,
    in_stream_error,
    usage_from,
    usage_json,
)
from torouter.protocols.shapes import JSON_SCALAR, Shape

__all__ = [
    "STOP_REASONS",
    "STOP_REASONS_IN",
    "StreamDecoder",
    "StreamEncoder",
    "in_stream_error",
    "parse_request",
    "parse_response",
    "render_request",
    "render_response",
    "scan_stream",
    "string_chars",
    "untranslatable",
    "usage_from",
    "usage_json",
    "usage_of_body",
]

_USAGE, _USAGE_SPACED = (b'"usage":{', b'"usage": {')
DONE = b"data: [DONE]"


def usage_of_body(body: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(usage block, upstream response id) of a non-stream JSON response."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(obj, dict):
        return None, None
    usage = obj.get("usage")
    rid = obj.get("id")
    return (usage if isinstance(usage, dict) else None), (rid if isinstance(rid, str) else None)


CHAR_MARKS = (b'"content":"', b'"reasoning_content":"', b'"arguments":"')


def string_chars(events: bytes, marks: tuple[bytes, ...]) -> int:
    """Characters of the JSON strings that follow `marks` (the R10.1 output estimate).

    Counted in place, never kept: the relay calls it per read without holding the text.
    """
    n = 0
    for mark in marks:
        i = events.find(mark)
        while i >= 0:
            start = j = i + len(mark)
            while True:
                j = events.find(b'"', j)
                if j < 0:
                    j = len(events)
                    break
                if events[j - 1] != 0x5C:  # not an escaped quote
                    break
                j += 1
            n += j - start
            i = events.find(mark, j)
    return n


def scan_stream(events: bytes, keep_usage_chunk: bool) -> tuple[bytes, dict[str, Any] | None]:
    """One or more complete events → (bytes to send, usage block if one was seen).

    The usage-only chunk (`"choices": []`) is removed when the client did not ask for it.
    Only the events holding a usage mark are visited (found with `rfind`, not by splitting the
    read: a 24-event read used to cost a Python loop over every event for its last one). A
    mark cannot occur inside a JSON string (its quotes would be escaped), so each found event
    is one that has a usage key. The search runs from the end: the usage chunk comes last,
    and `rfind` scans a 7.5 KB read in ~1 µs where `find` takes ~3.
    """
    # Both spellings tested inline: a generator per event cost ~70 calls per 24-event read.
    at = max(events.rfind(_USAGE), events.rfind(_USAGE_SPACED))
    if at < 0:
        return events, None
    if keep_usage_chunk:  # nothing removed: the last usage block is the answer
        while at >= 0:
            start, end = _event_around(events, at)
            obj = _event_object(events[start:end])
            if obj is not None and isinstance(u := obj.get("usage"), dict):
                return events, u
            at = max(events.rfind(_USAGE, 0, start), events.rfind(_USAGE_SPACED, 0, start))
        return events, None
    if events.rfind(b"\n\n\n") >= 0:  # blank lines in a row: events are where `split` puts them
        return _scan_split(events, keep_usage_chunk)
    found: list[tuple[int, int]] = []  # (start, end) of each event with a mark, last first
    while at >= 0:
        start, end = _event_around(events, at)
        found.append((start, end))
        at = max(events.rfind(_USAGE, 0, start), events.rfind(_USAGE_SPACED, 0, start))
    usage: dict[str, Any] | None = None
    kept: list[bytes] = []  # the bytes around the removed events
    copied = 0  # events[:copied] is decided
    for start, end in reversed(found):
        obj = _event_object(events[start:end])
        if obj is not None:
            u = obj.get("usage")
            if isinstance(u, dict):
                usage = u
            if not keep_usage_chunk and obj.get("choices") == []:
                # The event goes with the separator after it; the last one (a read's tail
                # without its blank line) with the separator before what is kept.
                kept.append(events[copied:start])
                copied = end + 2
    if not kept:
        return events, usage
    if copied > len(events):  # the last event went: so does the separator before it
        out = b"".join(kept)
        return out[:-2], usage
    kept.append(events[copied:])
    return b"".join(kept), usage


def _event_around(events: bytes, at: int) -> tuple[int, int]:
    """(start, end) of the event holding `events[at]`, its separators excluded."""
    start = events.rfind(b"\n\n", 0, at)
    end = events.find(b"\n\n", at)
    return (0 if start < 0 else start + 2), (len(events) if end < 0 else end)


def _event_object(ev: bytes) -> dict[str, Any] | None:
    """The JSON object on an SSE event's `data:` line, or None (no data, not JSON, not an
    object)."""
    data = ev.find(b"data:")
    try:
        obj = orjson.loads(ev[data + 5 :]) if data >= 0 else None
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def _scan_split(events: bytes, keep_usage_chunk: bool) -> tuple[bytes, dict[str, Any] | None]:
    """`scan_stream` event by event (the read split on its blank lines)."""
    usage: dict[str, Any] | None = None
    kept: list[bytes] = []
    for ev in events.split(b"\n\n"):
        if _USAGE in ev or _USAGE_SPACED in ev:
            obj = _event_object(ev)
            if obj is not None:
                u = obj.get("usage")
                if isinstance(u, dict):
                    usage = u
                if not keep_usage_chunk and obj.get("choices") == []:
                    continue
        kept.append(ev)
    return b"\n\n".join(kept), usage


# ── translation: request ────────────────────────────────────────────────────────────────────

# Fields with no internal equivalent: named as dropped when a request is translated (R5.7).
_DROPPED = (
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "service_tier",
    "metadata",
    "store",
    "prediction",
    "web_search_options",
    "verbosity",
    "functions",
    "function_call",
)
_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})


def _invalid(message: str, param: str) -> GatewayError:
    return error("E16", message, param=param)


def _num(body: dict[str, Any], key: str) -> float | None:
    v = body.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _invalid(f"{key} must be a number", key)
    return float(v)


def _int_field(body: dict[str, Any], key: str) -> int | None:
    v = body.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise _invalid(f"{key} must be an integer", key)
    return v


def _text_of(content: Any, param: str) -> str:
    """A string, or the text parts of a content list, joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text") or p.get("refusal") or "") for p in content if isinstance(p, dict)
        )
    raise _invalid("content must be a string or a list of parts", param)


def _user_parts(content: Any, param: str, req: Request) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(content)]
    if not isinstance(content, list):
        raise _invalid("content must be a string or a list of parts", param)
    parts: list[Part] = []
    for i, p in enumerate(content):
        if not isinstance(p, dict):
            raise _invalid("content parts must be objects", f"{param}[{i}]")
        kind = p.get("type")
        if kind == "text":
            parts.append(TextPart(str(p.get("text") or ""), p.get("cache_control")))
        elif kind == "image_url":
            image = p.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise _invalid("image_url.url is required", f"{param}[{i}].image_url")
            detail = image.get("detail") if isinstance(image, dict) else None
            parts.append(_image_from_url(url, detail, p.get("cache_control")))
        else:
            req.drop(str(kind or "content"))
    return parts


def _image_from_url(url: str, detail: str | None, cache: Any = None) -> ImagePart:
    inline = parse_data_uri(url)
    if inline is not None:
        return ImagePart(data=inline[1], media_type=inline[0], detail=detail, cache_control=cache)
    return ImagePart(url=url, detail=detail, cache_control=cache)


def _assistant(m: dict[str, Any], param: str) -> Message:
    parts: list[Part] = []
    reasoning = m.get("reasoning_content") or m.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append(ThinkingPart(reasoning))
    text = _text_of(m.get("content"), f"{param}.content")
    if text:
        parts.append(TextPart(text))
    if m.get("refusal"):
        parts.append(TextPart(str(m["refusal"])))
    calls = m.get("tool_calls") or []
    if not isinstance(calls, list):
        raise _invalid("tool_calls must be a list", f"{param}.tool_calls")
    for j, c in enumerate(calls):
        fn = c.get("function") if isinstance(c, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise _invalid("tool call needs function.name", f"{param}.tool_calls[{j}]")
        args = fn.get("arguments")
        args = args if isinstance(args, str) else dumps(args if args is not None else {})
        parts.append(ToolCallPart(str(c.get("id") or ""), fn["name"], args))
    return Message("assistant", parts)


def _messages(body: dict[str, Any], req: Request) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages must be a non-empty list", "messages")
    names: dict[str, str] = {}
    for i, m in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(m, dict):
            raise _invalid("messages must be objects", param)
        role = m.get("role")
        if role in ("system", "developer"):
            content = m.get("content")
            if isinstance(content, list):
                for p in content:
                    if isinstance(p, dict) and p.get("type") == "text":
                        req.system.append(
                            TextPart(str(p.get("text") or ""), p.get("cache_control"))
                        )
            else:
                req.system.append(TextPart(_text_of(content, f"{param}.content")))
        elif role == "user":
            req.messages.append(Message("user", _user_parts(m.get("content"), param, req)))
        elif role == "assistant":
            if m.get("audio"):
                req.drop("audio")
            msg = _assistant(m, param)
            names.update((p.id, p.name) for p in msg.parts if isinstance(p, ToolCallPart))
            req.messages.append(msg)
        elif role in ("tool", "function"):
            call_id = str(m.get("tool_call_id") or m.get("name") or "")
            name = str(m.get("name") or names.get(call_id, ""))
            content = m.get("content")
            result = ToolResultPart(call_id, name, [TextPart(_text_of(content, param))])
            if isinstance(content, list):
                parts = _user_parts(content, param, req)
                result.content = [p for p in parts if isinstance(p, (TextPart, ImagePart))]
            prev = req.messages[-1] if req.messages else None
            if prev is not None and prev.role == "tool":
                prev.parts.append(result)
            else:
                req.messages.append(Message("tool", [result]))
        else:
            raise _invalid(f"unknown role {role!r}", f"{param}.role")


def _tools(body: dict[str, Any], req: Request) -> None:
    tools = body.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _invalid("tools must be a list", "tools")
    for i, t in enumerate(tools):
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(t, dict) or t.get("type", "function") != "function":
            req.drop(str(t.get("type") if isinstance(t, dict) else "tools"))
            continue
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise _invalid("tools need function.name", f"tools[{i}].function.name")
        req.tools.append(
            Tool(
                fn["name"],
                fn.get("description") or None,
                fn.get("parameters") or {},
                fn.get("strict"),
                t.get("cache_control"),
            )
        )
    choice = body.get("tool_choice")
    if isinstance(choice, str):
        mode = TOOL_MODES.get(choice)
        if mode is None:
            raise _invalid("tool_choice must be auto, none, required or a function", "tool_choice")
        req.tool_choice = ToolChoice(mode)
    elif isinstance(choice, dict):
        fn = choice.get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise _invalid("tool_choice.function.name is required", "tool_choice")
        req.tool_choice = ToolChoice("tool", fn["name"])


def _response_format(body: dict[str, Any], req: Request) -> None:
    rf = body.get("response_format")
    if rf is None:
        return
    if not isinstance(rf, dict) or rf.get("type") not in ("text", "json_object", "json_schema"):
        raise _invalid(
            "response_format.type must be text, json_object or json_schema", "response_format"
        )
    if rf["type"] == "json_schema":
        js = rf.get("json_schema")
        if not isinstance(js, dict):
            raise _invalid("response_format.json_schema is required", "response_format")
        req.response_format = ResponseFormat(
            "json_schema", js.get("schema") or {}, js.get("name"), js.get("strict")
        )
    elif rf["type"] == "json_object":
        req.response_format = ResponseFormat("json_object")


def untranslatable(body: dict[str, Any]) -> tuple[str, str] | None:
    """(param, message) of the first field only a native exchange can honour (R5.7): several
    choices, or audio output. None when the body translates."""
    n = body.get("n")
    if n is not None and n != 1:
        return "n", "n > 1 is not supported on this model"
    modalities = body.get("modalities")
    if body.get("audio") or (isinstance(modalities, list) and "audio" in modalities):
        return "modalities", "audio output is not supported on this model"
    return None


def parse_request(body: dict[str, Any]) -> Request:
    """A client's chat completions body → the internal request (for translated routes)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("model is required", "model")
    refused = untranslatable(body)
    if refused is not None:
        raise _invalid(refused[1], refused[0])
    req = Request(model)
    _messages(body, req)
    _tools(body, req)
    _response_format(body, req)
    parallel = body.get("parallel_tool_calls")
    req.parallel_tool_calls = parallel if isinstance(parallel, bool) else None
    req.temperature = _num(body, "temperature")
    req.top_p = _num(body, "top_p")
    req.top_k = _int_field(body, "top_k")  # OpenRouter and vLLM accept it
    req.presence_penalty = _num(body, "presence_penalty")
    req.frequency_penalty = _num(body, "frequency_penalty")
    req.seed = _int_field(body, "seed")
    limit = _int_field(body, "max_completion_tokens")
    req.max_tokens = limit if limit is not None else _int_field(body, "max_tokens")
    stop = body.get("stop")
    if isinstance(stop, str):
        req.stop = [stop]
    elif isinstance(stop, list):
        req.stop = [str(s) for s in stop]
    elif stop is not None:
        raise _invalid("stop must be a string or a list", "stop")
    effort = body.get("reasoning_effort")
    reasoning = body.get("reasoning")  # the OpenRouter form
    if isinstance(reasoning, dict):
        effort = effort or reasoning.get("effort")
        budget = reasoning.get("max_tokens")
        on = reasoning.get("enabled", True) is not False and effort != "none"
        req.reasoning = Reasoning(on, budget if isinstance(budget, int) else None, effort)
    elif effort is not None:
        if effort not in _EFFORTS:
            raise _invalid("reasoning_effort is not a known level", "reasoning_effort")
        req.reasoning = Reasoning(effort != "none", None, effort)
    req.stream = body.get("stream") is True
    options = body.get("stream_options")
    req.include_usage = isinstance(options, dict) and options.get("include_usage") is True
    user = body.get("user") or body.get("safety_identifier")
    req.user = user if isinstance(user, str) else None
    key = body.get("prompt_cache_key")
    req.prompt_cache_key = key if isinstance(key, str) else None
    for name in _DROPPED:
        if body.get(name) not in (None, False):
            req.drop(name)
    return req


def _content_out(parts: list[TextPart | ImagePart], cache: bool) -> str | list[dict[str, Any]]:
    if not parts:
        return ""
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        if parts[0].cache_control is None or not cache:
            return parts[0].text
    out: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, TextPart):
            item: dict[str, Any] = {"type": "text", "text": p.text}
        else:
            url = p.url or f"data:{p.media_type or 'image/png'};base64,{p.data or ''}"
            image: dict[str, Any] = {"url": url}
            if p.detail:
                image["detail"] = p.detail
            item = {"type": "image_url", "image_url": image}
        if cache and p.cache_control is not None:
            item["cache_control"] = p.cache_control
        out.append(item)
    return out


def _render_messages(req: Request, cache: bool, send_reasoning: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if req.system:
        out.append({"role": "system", "content": _content_out(list(req.system), cache)})
    for msg in req.messages:
        if msg.role == "user":
            media = [p for p in msg.parts if isinstance(p, (TextPart, ImagePart))]
            out.append({"role": "user", "content": _content_out(media, cache)})
        elif msg.role == "tool":
            for p in msg.parts:
                if isinstance(p, ToolResultPart):
                    if any(isinstance(c, ImagePart) for c in p.content):
                        req.drop("tool_result_images")
                    text = p.text
                    out.append({"role": "tool", "tool_call_id": p.tool_call_id, "content": text})
        else:
            text = "".join(p.text for p in msg.parts if isinstance(p, TextPart))
            item: dict[str, Any] = {"role": "assistant", "content": text or None}
            thinking = "".join(p.text for p in msg.parts if isinstance(p, ThinkingPart))
            if thinking and send_reasoning:
                item["reasoning_content"] = thinking
            calls = [
                {
                    "id": p.id,
                    "type": "function",
                    "function": {"name": p.name, "arguments": p.arguments},
                }
                for p in msg.parts
                if isinstance(p, ToolCallPart)
            ]
            if calls:
                item["tool_calls"] = calls
            elif item["content"] is None:
                item["content"] = ""  # null content needs tool calls
            out.append(item)
    return out


def render_request(
    req: Request,
    *,
    upstream_model: str,
    platform: str = "openai",
    send_reasoning: bool = False,
    supports_reasoning: bool = True,
) -> dict[str, Any]:
    """The internal request → an upstream chat completions body.

    `platform` is `openai`, `openrouter` or `openai-compatible`: it decides the output-limit
    field, whether `top_k` and `cache_control` survive, and the reasoning switch (R6.4).
    `send_reasoning` returns earlier reasoning as `reasoning_content` (R5.6); a model without
    `supports_thinking` gets no reasoning switch (named as dropped).
    """
    cache = platform != "openai"
    body: dict[str, Any] = {
        "model": upstream_model,
        "messages": _render_messages(req, cache, send_reasoning),
    }
    if not cache and (
        any(p.cache_control for p in req.system)
        or any(getattr(p, "cache_control", None) for m in req.messages for p in m.parts)
    ):
        req.drop("cache_control")
    if req.tools:
        body["tools"] = [_tool_out(t, cache) for t in req.tools]
    if req.tool_choice is not None and req.tools:  # a choice without tools is refused
        tc = req.tool_choice
        body["tool_choice"] = (
            {"type": "function", "function": {"name": tc.name}} if tc.mode == "tool" else tc.mode
        )
    if req.parallel_tool_calls is not None and req.tools:
        body["parallel_tool_calls"] = req.parallel_tool_calls
    rf = req.response_format
    if rf is not None and rf.type == "json_schema":
        schema: dict[str, Any] = {"name": rf.name or "response", "schema": rf.schema or {}}
        if rf.strict is not None:
            schema["strict"] = rf.strict
        body["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif rf is not None:
        body["response_format"] = {"type": rf.type}
    for key, value in (
        ("temperature", req.temperature),
        ("top_p", req.top_p),
        ("presence_penalty", req.presence_penalty),
        ("frequency_penalty", req.frequency_penalty),
        ("seed", req.seed),
    ):
        if value is not None:
            body[key] = value
    if req.top_k is not None:
        if platform == "openai":
            req.drop("top_k")
        else:
            body["top_k"] = req.top_k
    if req.stop:
        body["stop"] = req.stop
    if req.max_tokens is not None:
        body["max_completion_tokens" if platform == "openai" else "max_tokens"] = req.max_tokens
    r = req.reasoning
    if r is not None and r.enabled and not supports_reasoning:
        req.drop("reasoning")
        r = None
    if r is not None and not r.enabled and platform == "openrouter":
        body["reasoning"] = {"enabled": False}
    elif r is not None and not r.enabled and r.effort == "none":
        body["reasoning_effort"] = "none"
    elif r is not None and r.enabled:
        effort = r.effort or effort_for(r.budget_tokens)
        if platform == "openrouter":
            body["reasoning"] = (
                {"max_tokens": r.budget_tokens}
                if r.budget_tokens and not r.effort
                else {"effort": effort}
            )
        else:
            body["reasoning_effort"] = effort
    if req.user:
        body["user"] = req.user
    if req.prompt_cache_key:
        body["prompt_cache_key"] = req.prompt_cache_key
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}  # R4.2: always asked upstream
    return body


def _tool_out(t: Tool, cache: bool) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": t.name}
    if t.description:
        fn["description"] = t.description
    fn["parameters"] = t.parameters or {"type": "object", "properties": {}}
    if t.strict is not None:
        fn["strict"] = t.strict
    out: dict[str, Any] = {"type": "function", "function": fn}
    if cache and t.cache_control is not None:
        out["cache_control"] = t.cache_control
    return out


# ── translation: response ───────────────────────────────────────────────────────────────────


# What `parse_response` reads, with the types it reads them as (R9.4: anything else is a broken
# upstream, failed over). The usage block's details are checked where they are read.
RESPONSE_SHAPE: dict[str, Shape] = {
    "choices": [
        {
            "message": {"content": (str, list), "tool_calls": [{"function": dict}]},
            "finish_reason": JSON_SCALAR,
        }
    ],
    "usage": dict,
    "created": JSON_SCALAR,
}


def parse_response(body: dict[str, Any], *, rng: random.Random | None = None) -> Response:
    """An upstream chat completion body → the internal response."""
    shapes.answer(body, RESPONSE_SHAPE)  # the body is JSON as the upstream sent it
    choices = body.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    parts: list[Part] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append(ThinkingPart(reasoning))
    content = message.get("content")
    text = _text_of(content, "content") if content is not None else ""
    if text:
        parts.append(TextPart(text))
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append(TextPart(message["refusal"]))
    for c in message.get("tool_calls") or []:
        fn = c.get("function") or {}
        args = fn.get("arguments")
        parts.append(
            ToolCallPart(
                upstream_call_id(c.get("id"), rng),
                str(fn.get("name") or ""),
                args if isinstance(args, str) else dumps(args or {}),
            )
        )
    raw = choice.get("finish_reason")
    stop = STOP_REASONS_IN.get(raw or "stop", "end")
    if stop == "end" and any(isinstance(p, ToolCallPart) for p in parts):
        stop = "tool_call"
    return Response(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        parts=parts,
        stop_reason=stop,
        stop_raw=raw,
        usage=usage_from(body.get("usage")),
        created=int(body.get("created") or 0),
    )


def render_response(resp: Response, *, model: str) -> dict[str, Any]:
    """The internal response → a client's chat completion body (reasoning as text only)."""
    text = "".join(p.text for p in resp.parts if isinstance(p, TextPart))
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    thinking = "".join(p.text for p in resp.parts if isinstance(p, ThinkingPart) and not p.redacted)
    if thinking:
        message["reasoning_content"] = thinking
    calls = [
        {"id": p.id, "type": "function", "function": {"name": p.name, "arguments": p.arguments}}
        for p in resp.parts
        if isinstance(p, ToolCallPart)
    ]
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    message["refusal"] = None
    return {
        "id": resp.id,
        "object": "chat.completion",
        "created": resp.created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": STOP_REASONS[resp.stop_reason],
            }
        ],
        "usage": usage_json(resp.usage),
    }
