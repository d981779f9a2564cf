"""Mock OpenAI Responses API: ``POST /v1/responses`` and ``/v1/responses/input_tokens``.

Streams are named events whose JSON repeats the event type and carries a ``sequence_number`` from
0: ``response.created``, ``response.in_progress``, per output item ``output_item.added`` …
``output_item.done`` (reasoning summary, message text or function call), then
``response.completed`` (or ``response.incomplete``) with the whole response and its usage.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Any

import orjson

from torouter.mock.context import Call
from torouter.mock.faults import NONE, Directives
from torouter.mock.openai import (
    JSON,
    OVERLOADED,
    SSE,
    OpenAI,
    effort_tokens,
    parts_text,
    send_json,
)
from torouter.mock.plan import Ask, Plan, make_plan
from torouter.mock.provider import group
from torouter.mock.structured import responses_want
from torouter.mock.text import new_id, split_even

__all__ = ["input_tokens", "respond"]

_TOOL_OUTPUTS = ("function_call_output", "custom_tool_call_output")


def responses_prompt(body: dict[str, Any]) -> tuple[list[tuple[Hashable, int]], str, bool]:
    """Cache segments, last user text, and whether the input ends with a tool result."""
    segments: list[tuple[Hashable, int]] = []
    tools = body.get("tools")
    if tools:
        listed = orjson.dumps(tools)
        segments.append((listed, len(listed)))
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        segments.append((("instructions", instructions), len(instructions)))
    items = body.get("input")
    if isinstance(items, str):
        segments.append((("user", items), len(items)))
        return segments, items, False
    last = ""
    after_tool = False
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        after_tool = kind in _TOOL_OUTPUTS
        if kind == "message" or "role" in item:
            content = item.get("content")
            text, chars = parts_text(content)
            key = (item.get("role"), content) if isinstance(content, str) else orjson.dumps(item)
            segments.append((key, chars))
            if item.get("role") == "user":
                last = text
            continue
        data = orjson.dumps(item)
        value = item.get("arguments", item.get("output"))
        segments.append((data, len(value) if isinstance(value, str) else len(data)))
    return segments, last, after_tool


def _tools(body: dict[str, Any]) -> tuple[list[tuple[str, Any]], str | None]:
    tools = [
        (t["name"], t.get("parameters"))
        for t in body.get("tools") or ()
        if isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("name"), str)
    ]
    choice = body.get("tool_choice")
    if choice == "none":
        return tools, "none"
    if choice == "required":
        return tools, ""
    if isinstance(choice, dict) and isinstance(choice.get("name"), str):
        return tools, choice["name"]
    return tools, None


def _usage(prompt: int, cached: int, plan: Plan) -> dict[str, Any]:
    out = plan.output_tokens
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": plan.thinking_tokens},
        "total_tokens": prompt + out,
    }


def _shell(
    rid: str, created: int, body: dict[str, Any], reasoning: dict[str, Any]
) -> dict[str, Any]:
    """The response object with status in_progress, no output and no usage."""
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": body["model"],
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_logprobs": 0,
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def _items(plan: Plan, summary: bool) -> list[dict[str, Any]]:
    """The completed output items."""
    items: list[dict[str, Any]] = []
    if plan.thinking:
        parts = [{"type": "summary_text", "text": plan.thinking}] if summary else []
        items.append({"id": "rs_" + new_id(48), "type": "reasoning", "summary": parts})
    for call in plan.tool_calls:
        items.append(
            {
                "id": "fc_" + new_id(48),
                "type": "function_call",
                "status": "completed",
                "arguments": call.arguments,
                "call_id": "call_" + call.tag,
                "name": call.name,
            }
        )
    if not plan.tool_calls:
        text = {"type": "output_text", "annotations": [], "logprobs": [], "text": plan.text}
        items.append(
            {
                "id": "msg_" + new_id(48),
                "type": "message",
                "status": "completed",
                "content": [text],
                "role": "assistant",
            }
        )
    return items


def _finish(response: dict[str, Any], plan: Plan) -> str:
    """Set the final status; returns the name of the final stream event."""
    if plan.finish == "length":
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": "max_output_tokens"}
        return "response.incomplete"
    if plan.finish == "content_filter":
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": "content_filter"}
        return "response.incomplete"
    response["status"] = "completed"
    return "response.completed"


async def respond(call: Call) -> None:
    provider: OpenAI = call.provider
    body = await provider.parse(call, "input")
    if body is None:
        return
    segments, last, after_tool = responses_prompt(body)
    d, prompt = call.directives(last)
    if d is not NONE and await provider.gate(call, d):
        return
    reasoning = body.get("reasoning")
    if not isinstance(reasoning, dict):
        reasoning = {}
    tools, choice = _tools(body) if body.get("tools") else ([], None)
    ask = Ask(
        prompt,
        tools,
        choice,
        after_tool,
        body.get("max_output_tokens"),
        (),
        effort_tokens(reasoning.get("effort"), call.config.thinking_tokens) if reasoning else 0,
        json=responses_want(body),
    )
    plan = make_plan(ask, d, call.config)
    usage = call.cache.measure(call.credential, segments, forced=d.cache)
    response = _shell("resp_" + new_id(48), int(time.time()), body, reasoning)
    summary = bool(reasoning.get("summary"))
    items = _items(plan, summary)
    final_usage = None if d.no_usage else _usage(usage.prompt_tokens, usage.cached_tokens, plan)
    if body.get("stream") is True:
        await call.stream(_frames(response, items, plan, final_usage, summary, d), SSE, d)
        return
    _finish(response, plan)
    response["output"] = items
    response["usage"] = final_usage
    await send_json(call, response, d)


def _frames(
    response: dict[str, Any],
    items: list[dict[str, Any]],
    plan: Plan,
    usage: dict[str, Any] | None,
    summary: bool,
    d: Directives,
) -> list[list[bytes]]:
    events: list[tuple[bytes, bool]] = []

    def emit(kind: str, payload: dict[str, Any], paced: bool = False) -> None:
        data = orjson.dumps({"type": kind, "sequence_number": len(events), **payload})
        events.append((b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n", paced))

    emit("response.created", {"response": response})
    emit("response.in_progress", {"response": response})
    for index, item in enumerate(items):
        at = {"item_id": item["id"], "output_index": index}
        kind = item["type"]
        if kind == "reasoning":
            emit(
                "response.output_item.added",
                {"output_index": index, "item": {**item, "summary": []}},
            )
            if summary:
                where = {**at, "summary_index": 0}
                emit(
                    "response.reasoning_summary_part.added",
                    {**where, "part": {"type": "summary_text", "text": ""}},
                )
                for piece in plan.thinking_pieces:
                    emit("response.reasoning_summary_text.delta", {**where, "delta": piece}, True)
                emit("response.reasoning_summary_text.done", {**where, "text": plan.thinking})
                emit("response.reasoning_summary_part.done", {**where, "part": item["summary"][0]})
        elif kind == "function_call":
            started = {**item, "status": "in_progress", "arguments": ""}
            emit("response.output_item.added", {"output_index": index, "item": started})
            arguments = item["arguments"]
            for piece in split_even(arguments, max(1, min(8, len(arguments) // 6))):
                emit("response.function_call_arguments.delta", {**at, "delta": piece}, True)
            emit("response.function_call_arguments.done", {**at, "arguments": arguments})
        else:
            started = {**item, "status": "in_progress", "content": []}
            emit("response.output_item.added", {"output_index": index, "item": started})
            where = {**at, "content_index": 0}
            empty = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            emit("response.content_part.added", {**where, "part": empty})
            for piece in plan.pieces:
                emit("response.output_text.delta", {**where, "delta": piece, "logprobs": []}, True)
            emit("response.output_text.done", {**where, "text": plan.text, "logprobs": []})
            emit("response.content_part.done", {**where, "part": item["content"][0]})
        emit("response.output_item.done", {"output_index": index, "item": item})
    final = dict(response)
    last_event = _finish(final, plan)
    final["output"] = items
    final["usage"] = usage
    emit(last_event, {"response": final})
    cut = len(events) if d.error_after is None else min(d.error_after, len(events))
    error = {"type": "server_error", "code": "server_error", "message": OVERLOADED, "param": None}
    failed = {
        **response,
        "status": "failed",
        "error": {"code": "server_error", "message": OVERLOADED},
    }
    tail = [
        _event("error", {"type": "error", "sequence_number": cut, "error": error}),
        _event(
            "response.failed",
            {"type": "response.failed", "sequence_number": cut + 1, "response": failed},
        ),
    ]
    return group(events, d, tail)


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


async def input_tokens(call: Call) -> None:
    provider: OpenAI = call.provider
    body = await provider.parse(call, None)
    if body is None:
        return
    segments, last, _ = responses_prompt(body)
    d, _ = call.directives(last)
    if d is not NONE and await provider.gate(call, d):
        return
    chars = sum(chars for _, chars in segments)
    out = {"object": "response.input_tokens", "input_tokens": max(1, (chars + 3) // 4)}
    await call.reply(200, orjson.dumps(out), JSON)
