"""Anthropic Messages on the wire ⇄ the internal shape (SPEC R3.4, R5.4–R5.7). Pure functions.

Requests: a client's body → `Request`, and `Request` → an upstream body (JSON mode as the forced
`json_response` tool, `parallel_tool_calls: false` as `disable_parallel_tool_use`, thinking with
the R6.4 budget rule, and thinking off when the last tool-use turn lost its thinking block, R5.6).
Responses: an upstream body → `Response`, and back. Streams: `anthropic_stream.py`, re-exported.
"""

from __future__ import annotations

import random
from typing import Any

from torouter.errors import GatewayError, error
from torouter.protocols import shapes
from torouter.protocols.anthropic_stream import (
    STOP_REASONS,
    STOP_REASONS_IN,
    StreamDecoder,
    StreamEncoder,
    in_stream_error,
    stop_reason_of,
    usage_from,
    usage_json,
)
from torouter.protocols.common import (
    JSON_TOOL,
    args_object,
    budget_for,
    dumps,
    std_b64,
    upstream_call_id,
)
from torouter.protocols.internal import (
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
from torouter.protocols.shapes import Shape

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "MIN_BUDGET",
    "STOP_REASONS",
    "STOP_REASONS_IN",
    "StreamDecoder",
    "StreamEncoder",
    "in_stream_error",
    "parse_request",
    "parse_response",
    "render_request",
    "render_response",
    "usage_from",
    "usage_json",
]

DEFAULT_MAX_TOKENS = 8192  # a model's max_output_tokens when the record has none (R5.4)
MIN_BUDGET = 1024  # Anthropic's smallest thinking budget
_DROPPED = ("service_tier", "container", "mcp_servers", "context_management", "cache_control")


def _invalid(message: str, param: str) -> GatewayError:
    return error("E16", message, param=param)


# ── request: wire → internal ────────────────────────────────────────────────────────────────


def _image(block: dict[str, Any], param: str) -> ImagePart:
    src = block.get("source")
    if not isinstance(src, dict):
        raise _invalid("image.source is required", f"{param}.source")
    cache = block.get("cache_control")
    if src.get("type") == "url" and isinstance(src.get("url"), str):
        return ImagePart(url=src["url"], cache_control=cache)
    if src.get("type") == "base64" and isinstance(src.get("data"), str):
        return ImagePart(data=src["data"], media_type=src.get("media_type"), cache_control=cache)
    raise _invalid("image.source must be base64 or url", f"{param}.source")


def _result_content(content: Any, param: str) -> list[TextPart | ImagePart]:
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(content)]
    if not isinstance(content, list):
        raise _invalid("tool_result.content must be a string or a list", param)
    out: list[TextPart | ImagePart] = []
    for j, b in enumerate(content):
        if isinstance(b, dict) and b.get("type") == "text":
            out.append(TextPart(str(b.get("text") or ""), b.get("cache_control")))
        elif isinstance(b, dict) and b.get("type") == "image":
            out.append(_image(b, f"{param}[{j}]"))
    return out


def _blocks(content: Any, param: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise _invalid("content must be a string or a list of blocks", param)
    for j, b in enumerate(content):
        if not isinstance(b, dict):
            raise _invalid("content blocks must be objects", f"{param}[{j}]")
    return content


def _user(blocks: list[dict[str, Any]], param: str, names: dict[str, str], req: Request) -> None:
    results: list[Part] = []
    parts: list[Part] = []
    for j, b in enumerate(blocks):
        kind, where = b.get("type"), f"{param}[{j}]"
        if kind == "text":
            parts.append(TextPart(str(b.get("text") or ""), b.get("cache_control")))
        elif kind == "image":
            parts.append(_image(b, where))
        elif kind == "tool_result":
            call_id = str(b.get("tool_use_id") or "")
            results.append(
                ToolResultPart(
                    call_id,
                    names.get(call_id, ""),
                    _result_content(b.get("content"), f"{where}.content"),
                    b.get("is_error") is True,
                    b.get("cache_control"),
                )
            )
        else:
            req.drop(str(kind))
    if results:
        req.messages.append(Message("tool", results))
    if parts:
        req.messages.append(Message("user", parts))


def _assistant(
    blocks: list[dict[str, Any]], param: str, names: dict[str, str], req: Request
) -> None:
    parts: list[Part] = []
    for j, b in enumerate(blocks):
        kind = b.get("type")
        if kind == "text":
            parts.append(TextPart(str(b.get("text") or ""), b.get("cache_control")))
        elif kind == "thinking":
            parts.append(ThinkingPart(str(b.get("thinking") or ""), b.get("signature") or None))
        elif kind == "redacted_thinking":
            parts.append(ThinkingPart("", str(b.get("data") or ""), redacted=True))
        elif kind == "tool_use":
            if not isinstance(b.get("name"), str):
                raise _invalid("tool_use.name is required", f"{param}[{j}].name")
            call = ToolCallPart(str(b.get("id") or ""), b["name"], dumps(b.get("input") or {}))
            names[call.id] = call.name
            parts.append(call)
        else:
            req.drop(str(kind))
    req.messages.append(Message("assistant", parts))


def _tools(body: dict[str, Any], req: Request) -> None:
    tools = body.get("tools")
    if isinstance(tools, list):
        for i, t in enumerate(tools):
            if not isinstance(t, dict) or not isinstance(t.get("name"), str):
                raise _invalid("tools need a name", f"tools[{i}].name")
            if t.get("type") not in (None, "custom"):
                req.drop(str(t["type"]))  # a server-side or Anthropic-defined tool
                continue
            req.tools.append(
                Tool(
                    t["name"],
                    t.get("description") or None,
                    t.get("input_schema") or {},
                    t.get("strict"),
                    t.get("cache_control"),
                )
            )
    elif tools is not None:
        raise _invalid("tools must be a list", "tools")
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "tool":
            req.tool_choice = ToolChoice("tool", str(choice.get("name") or ""))
        elif kind in ("auto", "none", "any"):
            req.tool_choice = ToolChoice("required" if kind == "any" else kind)
        else:
            raise _invalid("tool_choice.type must be auto, any, tool or none", "tool_choice")
        if choice.get("disable_parallel_tool_use") is True:
            req.parallel_tool_calls = False
    forced = req.tool_choice is not None and req.tool_choice.name == JSON_TOOL
    json_tool = next((t for t in req.tools if t.name == JSON_TOOL), None)
    if forced and json_tool is not None:  # our own JSON mode, read back (R5.4)
        req.tools.remove(json_tool)
        schema = json_tool.parameters
        plain = not schema or schema == {"type": "object"}
        req.response_format = (
            ResponseFormat("json_object") if plain else ResponseFormat("json_schema", schema)
        )
        req.tool_choice = None


def parse_request(body: dict[str, Any]) -> Request:
    """A client's Messages body → the internal request (for translated routes)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("model is required", "model")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        raise _invalid("max_tokens is required", "max_tokens")
    req = Request(model, max_tokens=max_tokens)
    system = body.get("system")
    if isinstance(system, str):
        req.system.append(TextPart(system))
    elif isinstance(system, list):
        for b in _blocks(system, "system"):
            req.system.append(TextPart(str(b.get("text") or ""), b.get("cache_control")))
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages must be a non-empty list", "messages")
    names: dict[str, str] = {}
    for i, m in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant", "system"):
            raise _invalid("messages need role user, assistant or system", f"{param}.role")
        blocks = _blocks(m.get("content"), f"{param}.content")
        if m["role"] == "system":
            # A mid-conversation system message (Claude Code sends one): other protocols have
            # one system prompt, so its text joins it.
            req.system.extend(
                TextPart(str(b.get("text") or ""), b.get("cache_control"))
                for b in blocks
                if b.get("type", "text") == "text"
            )
        elif m["role"] == "user":
            _user(blocks, f"{param}.content", names, req)
        else:
            _assistant(blocks, f"{param}.content", names, req)
    _tools(body, req)
    for key in ("temperature", "top_p"):
        v = body.get(key)
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise _invalid(f"{key} must be a number", key)
            setattr(req, key, float(v))
    if isinstance(body.get("top_k"), int):
        req.top_k = body["top_k"]
    stops = body.get("stop_sequences")
    if isinstance(stops, list):
        req.stop = [str(s) for s in stops]
    thinking = body.get("thinking")
    effort = (body.get("output_config") or {}).get("effort")
    if isinstance(thinking, dict):
        kind = thinking.get("type")
        budget = thinking.get("budget_tokens")
        req.reasoning = Reasoning(
            kind != "disabled", budget if isinstance(budget, int) else None, effort
        )
    elif isinstance(effort, str):
        req.reasoning = Reasoning(True, None, effort)
    req.stream = body.get("stream") is True
    req.include_usage = True  # Anthropic streams always carry usage
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        req.user = metadata["user_id"]
    for key in _DROPPED:
        if body.get(key) is not None:
            req.drop(key)
    return req


# ── request: internal → wire ────────────────────────────────────────────────────────────────


def _cached(block: dict[str, Any], cache: dict[str, Any] | None) -> dict[str, Any]:
    if cache is not None:
        block["cache_control"] = cache
    return block


def _media_block(p: ImagePart) -> dict[str, Any]:
    if p.url:
        source: dict[str, Any] = {"type": "url", "url": p.url}
    else:
        media = p.media_type or "image/png"
        source = {"type": "base64", "media_type": media, "data": std_b64(p.data or "")}
    kind = "document" if (p.media_type or "").startswith("application/pdf") else "image"
    return _cached({"type": kind, "source": source}, p.cache_control)


def _content_blocks(parts: list[Part]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, p in enumerate(parts):
        if isinstance(p, TextPart):
            if p.text:  # Anthropic refuses empty text blocks
                out.append(_cached({"type": "text", "text": p.text}, p.cache_control))
        elif isinstance(p, ImagePart):
            out.append(_media_block(p))
        elif isinstance(p, ThinkingPart):
            if p.redacted:
                out.append({"type": "redacted_thinking", "data": p.signature or ""})
            elif p.signature and (p.text or _next_is_call(parts, i)):
                out.append({"type": "thinking", "thinking": p.text, "signature": p.signature})
        elif isinstance(p, ToolCallPart):
            out.append(
                {"type": "tool_use", "id": p.id, "name": p.name, "input": args_object(p.arguments)}
            )
        elif isinstance(p, ToolResultPart):
            content: Any = p.text
            if any(isinstance(c, ImagePart) for c in p.content) or any(
                c.cache_control for c in p.content if isinstance(c, TextPart)
            ):
                content = _content_blocks(list(p.content))
            block = {"type": "tool_result", "tool_use_id": p.tool_call_id, "content": content}
            if p.is_error:
                block["is_error"] = True
            out.append(_cached(block, p.cache_control))
    return out


def _next_is_call(parts: list[Part], i: int) -> bool:
    return any(isinstance(p, ToolCallPart) for p in parts[i + 1 :])


def _messages(req: Request) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for msg in req.messages:
        role = "assistant" if msg.role == "assistant" else "user"
        blocks = _content_blocks(msg.parts)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:  # neighbours merged (R5.4)
            prev = out[-1]["content"]
            if msg.role == "tool":  # tool results go first in a user turn
                n = sum(1 for b in prev if b.get("type") == "tool_result")
                prev[n:n] = blocks
            else:
                prev.extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return out


def _tool_use_lost_thinking(req: Request) -> bool:
    """True when the request ends in a tool-use turn whose thinking block is missing (R5.6)."""
    for msg in reversed(req.messages):
        if msg.role == "tool":
            continue
        if msg.role != "assistant" or not any(isinstance(p, ToolCallPart) for p in msg.parts):
            return False
        return not any(isinstance(p, ThinkingPart) and p.signature for p in msg.parts)
    return False


def render_request(
    req: Request,
    *,
    upstream_model: str,
    max_output_tokens: int = DEFAULT_MAX_TOKENS,
    thinking_budget: int = 8192,
    supports_reasoning: bool = True,
) -> dict[str, Any]:
    """The internal request → an upstream Messages body. Fields with no equivalent are named
    in `req.dropped`.

    `max_output_tokens` stands in for a missing `max_tokens` (R5.4); `thinking_budget` is the
    model's default budget B (R6.4); a model without `supports_thinking` gets no thinking.
    """
    body: dict[str, Any] = {
        "model": upstream_model,
        "max_tokens": req.max_tokens or max_output_tokens,
    }
    if len(req.system) == 1 and req.system[0].cache_control is None:
        body["system"] = req.system[0].text
    elif req.system:
        body["system"] = [
            _cached({"type": "text", "text": p.text}, p.cache_control) for p in req.system
        ]
    body["messages"] = _messages(req)
    tools = [_tool(t) for t in req.tools]
    choice: dict[str, Any] | None = None
    if req.tool_choice is not None:
        tc = req.tool_choice
        choice = (
            {"type": "tool", "name": tc.name}
            if tc.mode == "tool"
            else {"type": "any" if tc.mode == "required" else tc.mode}
        )
    rf = req.response_format
    json_mode = rf is not None and rf.type != "text"
    if json_mode:
        assert rf is not None
        schema = rf.schema if rf.type == "json_schema" and rf.schema else {"type": "object"}
        tools.append(
            {
                "name": JSON_TOOL,
                "description": "Respond with a JSON object.",
                "input_schema": schema,
            }
        )
        if choice is not None:
            req.drop("tool_choice")  # JSON mode needs the forced tool
        choice = {"type": "tool", "name": JSON_TOOL}
    if req.parallel_tool_calls is False and tools:
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if tools:
        body["tools"] = tools
    if choice is not None and tools:
        body["tool_choice"] = choice
    r = req.reasoning
    thinking = r is not None and r.enabled
    if thinking and not supports_reasoning:
        thinking = False
        req.drop("reasoning")
    elif thinking and (json_mode or _tool_use_lost_thinking(req)):
        thinking = False  # forced tools and unsigned tool turns cannot run with thinking on
        req.drop("thinking")
    if r is not None and not r.enabled:
        body["thinking"] = {"type": "disabled"}
    if thinking:
        assert r is not None
        budget = max(MIN_BUDGET, r.budget_tokens or budget_for(r.effort, thinking_budget))
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if body["max_tokens"] <= budget:
            body["max_tokens"] += budget
    if req.temperature is not None:
        if thinking and req.temperature != 1:
            req.drop("temperature")
        else:
            body["temperature"] = min(req.temperature, 1.0)
    if req.top_p is not None:
        if thinking and req.top_p < 0.95:
            req.drop("top_p")
        else:
            body["top_p"] = req.top_p
    if req.top_k is not None:
        if thinking:
            req.drop("top_k")
        else:
            body["top_k"] = req.top_k
    if req.stop:
        body["stop_sequences"] = req.stop
    if req.user:
        body["metadata"] = {"user_id": req.user}
    for name in ("presence_penalty", "frequency_penalty", "seed", "prompt_cache_key"):
        if getattr(req, name) is not None:
            req.drop(name)
    if req.stream:
        body["stream"] = True
    return body


def _tool(t: Tool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": t.name}
    if t.description:
        out["description"] = t.description
    out["input_schema"] = t.parameters or {"type": "object", "properties": {}}
    if t.strict is not None:
        out["strict"] = t.strict
    return _cached(out, t.cache_control)


# ── response ────────────────────────────────────────────────────────────────────────────────


# What `parse_response` reads, with the types it reads them as (R9.4: anything else is a broken
# upstream, failed over). The usage block's details are checked where they are read.
RESPONSE_SHAPE: dict[str, Shape] = {"content": list, "usage": dict}


def parse_response(body: dict[str, Any], *, rng: random.Random | None = None) -> Response:
    """An upstream Messages body → the internal response (`json_response` input as text)."""
    shapes.answer(body, RESPONSE_SHAPE)  # the body is JSON as the upstream sent it
    parts: list[Part] = []
    for b in body.get("content") or ():
        kind = b.get("type") if isinstance(b, dict) else None
        if kind == "text":
            parts.append(TextPart(str(b.get("text") or "")))
        elif kind == "thinking":
            parts.append(ThinkingPart(str(b.get("thinking") or ""), b.get("signature") or None))
        elif kind == "redacted_thinking":
            parts.append(ThinkingPart("", str(b.get("data") or ""), redacted=True))
        elif kind == "tool_use":
            if b.get("name") == JSON_TOOL:
                parts.append(TextPart(dumps(b.get("input") or {})))
            else:
                parts.append(
                    ToolCallPart(
                        upstream_call_id(b.get("id"), rng),
                        str(b.get("name") or ""),
                        dumps(b.get("input") or {}),
                    )
                )
    raw = body.get("stop_reason")
    stop = stop_reason_of(raw, any(isinstance(p, ToolCallPart) for p in parts))
    return Response(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        parts=parts,
        stop_reason=stop,
        stop_raw=raw,
        stop_sequence=body.get("stop_sequence"),
        usage=usage_from(body.get("usage")),
    )


def render_response(resp: Response, *, model: str) -> dict[str, Any]:
    """The internal response → a client's Messages body."""
    content: list[dict[str, Any]] = []
    for p in resp.parts:
        if isinstance(p, TextPart):
            content.append({"type": "text", "text": p.text})
        elif isinstance(p, ThinkingPart):
            if p.redacted:
                content.append({"type": "redacted_thinking", "data": p.signature or ""})
            else:
                content.append(
                    {"type": "thinking", "thinking": p.text, "signature": p.signature or ""}
                )
        elif isinstance(p, ToolCallPart):
            content.append(
                {"type": "tool_use", "id": p.id, "name": p.name, "input": args_object(p.arguments)}
            )
    stop = "stop_sequence" if resp.stop_sequence else STOP_REASONS[resp.stop_reason]
    return {
        "id": resp.id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": resp.stop_sequence,
        "usage": usage_json(resp.usage),
    }
