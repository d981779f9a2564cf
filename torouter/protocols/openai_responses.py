"""The OpenAI Responses API on the wire ⇄ the internal shape (SPEC R3.3, R4.3, R5.4, R5.5, R5.7).

Pure functions. Requests: a client's `/v1/responses` body (input items, `instructions`, function
tools, `tool_choice`, `text.format`, `reasoning.effort`, `max_output_tokens`) → `Request`, and
back. Responses: an upstream Responses body → `Response`, and `Response` → the body a Responses
client gets. Streams: `openai_responses_stream.py`, re-exported here. Server-side state cannot be
translated: `background` anywhere, and `previous_response_id` or `conversation` off openai
channels, are E16 (R5.7).
"""

from __future__ import annotations

import random
import secrets
import time
from typing import Any

from torouter.errors import GatewayError, error
from torouter.protocols import shapes
from torouter.protocols.common import dumps, parse_data_uri, upstream_call_id
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
from torouter.protocols.openai_responses_stream import (
    STOP_REASONS,
    STOP_REASONS_IN,
    StreamDecoder,
    StreamEncoder,
    in_stream_error,
    item_text,
    shell,
    usage_from,
    usage_json,
)
from torouter.protocols.shapes import Shape

__all__ = [
    "STOP_REASONS",
    "STOP_REASONS_IN",
    "StreamDecoder",
    "StreamEncoder",
    "check_front",
    "echo_fields",
    "in_stream_error",
    "parse_request",
    "parse_response",
    "render_request",
    "render_response",
    "usage_from",
    "usage_json",
]

# Fields with no internal equivalent: named in `x-torouter-dropped` when translated (R5.7).
_DROPPED = (
    "store",
    "metadata",
    "include",
    "service_tier",
    "top_logprobs",
    "prompt",
    "max_tool_calls",
    "stream_options",
    "context_management",
)
_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
_ECHO_DEFAULTS: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "parallel_tool_calls": True,
    "temperature": None,
    "tool_choice": "auto",
    "tools": [],
    "top_p": None,
    "truncation": "disabled",
    "user": None,
    "metadata": {},
    "prompt_cache_key": None,
    "safety_identifier": None,
}


def _invalid(message: str, param: str) -> GatewayError:
    return error("E16", message, param=param)


def check_front(body: dict[str, Any]) -> str | None:
    """What the gateway reads before routing (R3.3): `background: true` is E16 on every
    channel; returns `previous_response_id` (routed to its channel by the gateway)."""
    if body.get("background") is True:
        raise _invalid("background responses are not supported", "background")
    prev = body.get("previous_response_id")
    if prev is None:
        return None
    if not isinstance(prev, str) or not prev:
        raise _invalid("previous_response_id must be a string", "previous_response_id")
    return prev


def echo_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The request fields a Responses object repeats (the response shell of a translation)."""
    out = {k: body.get(k, v) for k, v in _ECHO_DEFAULTS.items()}
    if not isinstance(out["tools"], list):
        out["tools"] = []
    reasoning = body.get("reasoning")
    reasoning = reasoning if isinstance(reasoning, dict) else {}
    out["reasoning"] = {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")}
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    out["text"] = {"format": fmt if isinstance(fmt, dict) else {"type": "text"}}
    out["store"] = False  # a translated response is never stored
    return out


# ── request: wire → internal ────────────────────────────────────────────────────────────────


def _content_list(content: Any, param: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    if content is None:
        return []
    if not isinstance(content, list):
        raise _invalid("content must be a string or a list of parts", param)
    for j, p in enumerate(content):
        if not isinstance(p, dict):
            raise _invalid("content parts must be objects", f"{param}[{j}]")
    return content


def _text_parts(content: Any, param: str, req: Request) -> list[TextPart]:
    out: list[TextPart] = []
    for p in _content_list(content, param):
        kind = p.get("type")
        if kind in ("input_text", "output_text", "text", "refusal"):
            out.append(TextPart(str(p.get("text") or p.get("refusal") or "")))
        else:
            req.drop(str(kind or "content"))
    return out


def _user_parts(content: Any, param: str, req: Request) -> list[TextPart | ImagePart]:
    out: list[TextPart | ImagePart] = []
    for j, p in enumerate(_content_list(content, param)):
        kind = p.get("type")
        if kind in ("input_text", "text", "output_text"):
            out.append(TextPart(str(p.get("text") or "")))
        elif kind == "input_image":
            url = p.get("image_url")
            if not isinstance(url, str) or not url:
                req.drop("input_image.file_id")
                continue
            detail = p.get("detail") if isinstance(p.get("detail"), str) else None
            inline = parse_data_uri(url)
            if inline is not None:
                out.append(ImagePart(data=inline[1], media_type=inline[0], detail=detail))
            else:
                out.append(ImagePart(url=url, detail=detail))
        elif kind is None:
            raise _invalid("content parts need a type", f"{param}[{j}].type")
        else:
            req.drop(str(kind))
    return out


def _assistant(req: Request) -> Message:
    last = req.messages[-1] if req.messages else None
    if last is not None and last.role == "assistant":
        return last
    msg = Message("assistant")
    req.messages.append(msg)
    return msg


def _result_content(output: Any, param: str, req: Request) -> list[TextPart | ImagePart]:
    if isinstance(output, str):
        return [TextPart(output)]
    if isinstance(output, list):
        return _user_parts(output, param, req)
    if output is None:
        return []
    return [TextPart(dumps(output))]


def _items(items: list[Any], req: Request) -> None:
    names: dict[str, str] = {}
    for i, item in enumerate(items):
        param = f"input[{i}]"
        if not isinstance(item, dict):
            raise _invalid("input items must be objects", param)
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            content = item.get("content")
            if role in ("system", "developer"):
                req.system.extend(_text_parts(content, f"{param}.content", req))
            elif role == "user":
                req.messages.append(Message("user", list(_user_parts(content, param, req))))
            elif role == "assistant":
                _assistant(req).parts.extend(_text_parts(content, f"{param}.content", req))
            else:
                raise _invalid(f"unknown role {role!r}", f"{param}.role")
        elif kind == "function_call":
            name, call_id = item.get("name"), item.get("call_id")
            if not isinstance(name, str) or not isinstance(call_id, str):
                raise _invalid("function_call items need call_id and name", param)
            args = item.get("arguments")
            args = args if isinstance(args, str) else dumps(args if args is not None else {})
            names[call_id] = name
            _assistant(req).parts.append(ToolCallPart(call_id, name, args))
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if not isinstance(call_id, str):
                raise _invalid("function_call_output items need call_id", f"{param}.call_id")
            result = ToolResultPart(
                call_id,
                names.get(call_id, ""),
                _result_content(item.get("output"), f"{param}.output", req),
            )
            last = req.messages[-1] if req.messages else None
            if last is not None and last.role == "tool":
                last.parts.append(result)
            else:
                req.messages.append(Message("tool", [result]))
        elif kind == "reasoning":
            text = item_text(item)
            if text:
                _assistant(req).parts.append(ThinkingPart(text))
        elif kind == "item_reference":
            req.drop("item_reference")
        elif kind is None:
            raise _invalid("input items need a type", f"{param}.type")
        else:
            req.drop(str(kind))


def _tools(body: dict[str, Any], req: Request) -> None:
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise _invalid("tools must be a list", "tools")
    for i, t in enumerate(tools or ()):
        if not isinstance(t, dict):
            raise _invalid("tools must be objects", f"tools[{i}]")
        if t.get("type") != "function":
            req.drop(str(t.get("type") or "tools"))
            continue
        if not isinstance(t.get("name"), str):
            raise _invalid("function tools need a name", f"tools[{i}].name")
        params = t.get("parameters")
        req.tools.append(
            Tool(
                t["name"],
                t.get("description") or None,
                params if isinstance(params, dict) else {},
                t.get("strict") if isinstance(t.get("strict"), bool) else None,
            )
        )
    choice = body.get("tool_choice")
    if choice is None:
        return
    if isinstance(choice, str):
        mode = TOOL_MODES.get(choice)
        if mode is None:
            raise _invalid("tool_choice must be auto, none, required or a tool", "tool_choice")
        req.tool_choice = ToolChoice(mode)
    elif isinstance(choice, dict) and choice.get("type") == "function":
        if not isinstance(choice.get("name"), str):
            raise _invalid("tool_choice.name is required", "tool_choice.name")
        req.tool_choice = ToolChoice("tool", choice["name"])
    elif isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        req.tool_choice = ToolChoice("required" if choice.get("mode") == "required" else "auto")
    else:
        req.drop("tool_choice")


def _text_format(body: dict[str, Any], req: Request) -> None:
    text = body.get("text")
    if text is None:
        return
    if not isinstance(text, dict):
        raise _invalid("text must be an object", "text")
    if text.get("verbosity") is not None:
        req.drop("text.verbosity")
    fmt = text.get("format")
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_schema":
        schema = fmt.get("schema")
        strict = fmt.get("strict")
        req.response_format = ResponseFormat(
            "json_schema",
            schema if isinstance(schema, dict) else {},
            fmt.get("name") if isinstance(fmt.get("name"), str) else None,
            strict if isinstance(strict, bool) else None,
        )
    elif kind == "json_object":
        req.response_format = ResponseFormat("json_object")
    elif kind != "text":
        raise _invalid("text.format.type must be text, json_object or json_schema", "text.format")


def _number(body: dict[str, Any], key: str) -> float | None:
    v = body.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _invalid(f"{key} must be a number", key)
    return float(v)


def parse_request(body: dict[str, Any]) -> Request:
    """A client's Responses body → the internal request (for translated routes)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("model is required", "model")
    check_front(body)
    for key in ("previous_response_id", "conversation"):
        if body.get(key):
            raise _invalid(f"{key} is only supported on openai channels", key)
    req = Request(model)
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        req.system.append(TextPart(instructions))
    elif isinstance(instructions, list):
        _items(instructions, req)
    items = body.get("input")
    if isinstance(items, str):
        req.messages.append(Message("user", [TextPart(items)]))
    elif isinstance(items, list):
        _items(items, req)
    elif items is not None:
        raise _invalid("input must be a string or a list of items", "input")
    if not req.messages:
        raise _invalid("input must not be empty", "input")
    _tools(body, req)
    _text_format(body, req)
    parallel = body.get("parallel_tool_calls")
    req.parallel_tool_calls = parallel if isinstance(parallel, bool) else None
    req.temperature = _number(body, "temperature")
    req.top_p = _number(body, "top_p")
    limit = body.get("max_output_tokens")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise _invalid("max_output_tokens must be an integer", "max_output_tokens")
    req.max_tokens = limit
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort") is not None:
        effort = reasoning["effort"]
        if effort not in _EFFORTS:
            raise _invalid("reasoning.effort is not a known level", "reasoning.effort")
        req.reasoning = Reasoning(effort != "none", None, effort)
    req.stream = body.get("stream") is True
    req.include_usage = True
    user = body.get("safety_identifier") or body.get("user")
    req.user = user if isinstance(user, str) else None
    cache_key = body.get("prompt_cache_key")
    req.prompt_cache_key = cache_key if isinstance(cache_key, str) else None
    if body.get("truncation") not in (None, "disabled"):
        req.drop("truncation")
    for name in _DROPPED:
        if body.get(name) not in (None, False, [], {}):
            req.drop(name)
    return req


# ── request: internal → wire ────────────────────────────────────────────────────────────────


def _input_items(req: Request) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for msg in req.messages:
        if msg.role == "user":
            content: list[dict[str, Any]] = []
            for p in msg.parts:
                if isinstance(p, TextPart):
                    content.append({"type": "input_text", "text": p.text})
                elif isinstance(p, ImagePart):
                    url = p.url or f"data:{p.media_type or 'image/png'};base64,{p.data or ''}"
                    content.append(
                        {"type": "input_image", "image_url": url, "detail": p.detail or "auto"}
                    )
            out.append({"type": "message", "role": "user", "content": content})
        elif msg.role == "tool":
            for p in msg.parts:
                if isinstance(p, ToolResultPart):
                    out.append(
                        {
                            "type": "function_call_output",
                            "call_id": p.tool_call_id,
                            "output": p.text,
                        }
                    )
        else:
            for p in msg.parts:
                if isinstance(p, TextPart):
                    out.append(
                        {
                            "type": "message",
                            "role": "assistant",
                            "content": [{"type": "output_text", "text": p.text}],
                        }
                    )
                elif isinstance(p, ToolCallPart):
                    out.append(
                        {
                            "type": "function_call",
                            "call_id": p.id,
                            "name": p.name,
                            "arguments": p.arguments,
                        }
                    )
    return out


def render_request(req: Request, *, upstream_model: str, **_: Any) -> dict[str, Any]:
    """The internal request → an upstream Responses body (reasoning history is not sent back:
    Responses upstreams only accept their own encrypted reasoning items)."""
    body: dict[str, Any] = {"model": upstream_model, "input": _input_items(req), "store": False}
    if req.system:
        body["instructions"] = "\n\n".join(p.text for p in req.system)
    if req.tools:
        tools = []
        for t in req.tools:
            tool: dict[str, Any] = {"type": "function", "name": t.name}
            if t.description:
                tool["description"] = t.description
            tool["parameters"] = t.parameters or {"type": "object", "properties": {}}
            if t.strict is not None:
                tool["strict"] = t.strict
            tools.append(tool)
        body["tools"] = tools
        tc = req.tool_choice
        if tc is not None:
            body["tool_choice"] = (
                {"type": "function", "name": tc.name} if tc.mode == "tool" else tc.mode
            )
        if req.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = req.parallel_tool_calls
    rf = req.response_format
    if rf is not None and rf.type == "json_schema":
        fmt: dict[str, Any] = {
            "type": "json_schema",
            "name": rf.name or "response",
            "schema": rf.schema or {},
        }
        if rf.strict is not None:
            fmt["strict"] = rf.strict
        body["text"] = {"format": fmt}
    elif rf is not None:
        body["text"] = {"format": {"type": rf.type}}
    for key, value in (("temperature", req.temperature), ("top_p", req.top_p)):
        if value is not None:
            body[key] = value
    if req.max_tokens is not None:
        body["max_output_tokens"] = req.max_tokens
    r = req.reasoning
    if r is not None:
        body["reasoning"] = {"effort": (r.effort or "medium") if r.enabled else "none"}
    if req.user:
        body["safety_identifier"] = req.user
    if req.prompt_cache_key:
        body["prompt_cache_key"] = req.prompt_cache_key
    if req.stream:
        body["stream"] = True
    return body


# ── responses ───────────────────────────────────────────────────────────────────────────────


# What `parse_response` reads, with the types it reads them as (R9.4: anything else is a broken
# upstream, failed over). The usage block's details are checked where they are read.
RESPONSE_SHAPE: dict[str, Shape] = {
    "output": [{"content": list, "summary": list}],
    "usage": dict,
}


def parse_response(body: dict[str, Any], *, rng: random.Random | None = None) -> Response:
    """An upstream Responses body → the internal response."""
    shapes.answer(body, RESPONSE_SHAPE)  # the body is JSON as the upstream sent it
    parts: list[Part] = []
    for item in body.get("output") or ():
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "reasoning":
            text = item_text(item)
            if text:
                parts.append(ThinkingPart(text))
        elif kind == "message":
            for c in item.get("content") or ():
                if isinstance(c, dict) and c.get("type") in ("output_text", "refusal"):
                    said = c.get("text") if c.get("type") == "output_text" else c.get("refusal")
                    if isinstance(said, str) and said:
                        parts.append(TextPart(said))
        elif kind == "function_call":
            args = item.get("arguments")
            parts.append(
                ToolCallPart(
                    upstream_call_id(item.get("call_id") or item.get("id"), rng),
                    str(item.get("name") or ""),
                    args if isinstance(args, str) else dumps(args or {}),
                )
            )
    status = body.get("status")
    details = body.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    stop = STOP_REASONS_IN.get(str(reason), "length") if status == "incomplete" else "end"
    if stop == "end" and any(isinstance(p, ToolCallPart) for p in parts):
        stop = "tool_call"
    created = body.get("created_at")
    return Response(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        parts=parts,
        stop_reason=stop,
        stop_raw=reason if isinstance(reason, str) else status if isinstance(status, str) else None,
        usage=usage_from(body.get("usage")),
        created=int(created) if isinstance(created, (int, float)) else 0,
    )


def _new_id(prefix: str, rng: random.Random | None) -> str:
    if rng is None:
        return prefix + secrets.token_hex(24)
    return prefix + f"{rng.getrandbits(192):048x}"


def render_response(
    resp: Response,
    *,
    model: str,
    echo: dict[str, Any] | None = None,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """The internal response → a client's Responses object (reasoning as `reasoning_text`)."""
    output: list[dict[str, Any]] = []
    text: list[str] = []

    def flush_text() -> None:
        if text:
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": "".join(text)}
            output.append(
                {
                    "id": _new_id("msg_", rng),
                    "type": "message",
                    "status": "completed",
                    "content": [part],
                    "role": "assistant",
                }
            )
            text.clear()

    for p in resp.parts:
        if isinstance(p, TextPart):
            text.append(p.text)
            continue
        flush_text()
        if isinstance(p, ThinkingPart) and p.text and not p.redacted:
            output.append(
                {
                    "id": _new_id("rs_", rng),
                    "type": "reasoning",
                    "summary": [],
                    "content": [{"type": "reasoning_text", "text": p.text}],
                }
            )
        elif isinstance(p, ToolCallPart):
            output.append(
                {
                    "id": _new_id("fc_", rng),
                    "type": "function_call",
                    "status": "completed",
                    "arguments": p.arguments or "{}",
                    "call_id": p.id,
                    "name": p.name,
                }
            )
    flush_text()
    created = resp.created or (0 if rng is not None else int(time.time()))
    out = shell(_new_id("resp_", rng), created, model, echo or {})
    status, reason = STOP_REASONS[resp.stop_reason]
    out["status"] = status
    out["incomplete_details"] = {"reason": reason} if reason else None
    out["output"] = output
    out["usage"] = usage_json(resp.usage)
    return out
