"""Mock OpenAI chat completions: ``POST /v1/chat/completions``, JSON or SSE.

Stream chunks are compact ``data:`` lines: the first delta carries ``role: "assistant"``, then
reasoning (``reasoning_content``, compat style) and content deltas or tool-call deltas (id and
name first, argument fragments after), a finish chunk, and with ``stream_options.include_usage``
a usage-only chunk (``"choices": []``) after chunks that carry ``"usage": null``; then ``[DONE]``.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from functools import lru_cache
from typing import Any

import orjson

from torouter.mock.context import Call
from torouter.mock.faults import NONE, Directives
from torouter.mock.openai import (
    DONE,
    FINISH,
    OVERLOADED,
    SSE,
    OpenAI,
    effort_tokens,
    parts_text,
    send_bytes,
    stops_of,
)
from torouter.mock.plan import Ask, Plan, make_plan
from torouter.mock.provider import group
from torouter.mock.structured import chat_want
from torouter.mock.text import new_id, split_even

__all__ = ["chat", "chat_frames", "chat_prompt", "chat_tools", "chat_usage"]

_PAD = b"abcdefghijklmnopqrstuvwxyzABCDEF"
STREAM_ERROR = (
    b'data: {"error":{"message":"' + OVERLOADED.encode() + b'","type":"server_error",'
    b'"param":null,"code":"server_error"}}\n\n',
    DONE,
)


def chat_prompt(body: dict[str, Any]) -> tuple[list[tuple[Hashable, int]], str, bool]:
    """Cache segments, last user text, and whether the last turn is a tool result."""
    segments: list[tuple[Hashable, int]] = []
    tools = body.get("tools")
    if tools:
        key = orjson.dumps(tools)
        segments.append((key, len(key)))
    last = ""
    messages = body["messages"]
    for m in messages:
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        content = m.get("content")
        if isinstance(content, str) and "tool_calls" not in m:
            segments.append(((role, content), len(content)))
            if role == "user":
                last = content
            continue
        text, chars = parts_text(content)
        if m.get("tool_calls"):
            chars += len(orjson.dumps(m["tool_calls"]))
        segments.append((orjson.dumps(m), chars))
        if role == "user":
            last = text
    after_tool = bool(messages) and isinstance(messages[-1], dict)
    after_tool = after_tool and messages[-1].get("role") in ("tool", "function")
    return segments, last, after_tool


def chat_tools(body: dict[str, Any]) -> tuple[list[tuple[str, Any]], str | None]:
    tools = []
    for tool in body.get("tools") or ():
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            tools.append((fn["name"], fn.get("parameters")))
        elif isinstance(tool, dict) and isinstance(tool.get("name"), str):
            tools.append((tool["name"], tool.get("parameters")))
    choice = body.get("tool_choice")
    if choice == "none":
        return tools, "none"
    if choice == "required":
        return tools, ""
    if isinstance(choice, dict):
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else choice.get("name")
        return tools, name if isinstance(name, str) else ""
    return tools, None


def obfuscation(used: int) -> bytes:
    return b',"obfuscation":"' + _PAD[: 16 - used % 16] + b'"'


def chat_usage(prompt: int, cached: int, plan: Plan) -> dict[str, Any]:
    out = plan.output_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": out,
        "total_tokens": prompt + out,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": plan.thinking_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


async def chat(call: Call) -> None:
    provider: OpenAI = call.provider
    body = await provider.parse(call)
    if body is None:
        return
    if not isinstance(body["messages"], list):
        await provider.error(
            call, 400, "Invalid type for 'messages': expected an array.", param="messages"
        )
        return
    segments, last, after_tool = chat_prompt(body)
    d, prompt = call.directives(last)
    if d is not NONE and await provider.gate(call, d):
        return
    model = body["model"]
    tools, choice = chat_tools(body) if body.get("tools") else ((), None)
    effort = body.get("reasoning_effort")
    if effort is None and isinstance(body.get("reasoning"), dict):
        effort = body["reasoning"].get("effort", "medium")
    ask = Ask(
        prompt,
        tools,
        choice,
        after_tool,
        body.get("max_completion_tokens") or body.get("max_tokens"),
        stops_of(body.get("stop")),
        effort_tokens(effort, call.config.thinking_tokens),
        json=chat_want(body),
    )
    plan = make_plan(ask, d, call.config)
    usage = call.cache.measure(call.credential, segments, forced=d.cache)
    show_reasoning = bool(d.reasoning_content or "reasoner" in model) and bool(plan.thinking)
    n = body.get("n")
    if not (isinstance(n, int) and n > 1):
        n = 1
    cid = "chatcmpl-" + new_id(29)
    created = int(time.time())
    if body.get("stream") is True:
        options = body.get("stream_options")
        include = isinstance(options, dict) and options.get("include_usage") is True
        obfuscate = not (isinstance(options, dict) and options.get("include_obfuscation") is False)
        usage_body = (
            None
            if d.no_usage or not include
            else chat_usage(usage.prompt_tokens, usage.cached_tokens, plan)
        )
        frames = chat_frames(
            cid, created, model, plan, n, include, obfuscate, usage_body, show_reasoning, d
        )
        await call.stream(frames, SSE, d)
        return
    head = b'{"id":"' + cid.encode() + b'","object":"chat.completion","created":'
    tail = _answer_json(
        model, plan, usage.prompt_tokens, usage.cached_tokens, n, show_reasoning, not d.no_usage
    )
    await send_bytes(call, head + str(created).encode() + tail, d)


@lru_cache(maxsize=1024)
def _answer_json(
    model: str, plan: Plan, prompt: int, cached: int, n: int, show_reasoning: bool, usage: bool
) -> bytes:
    """The non-stream body after ``created`` (cached: plans are shared, ids are not in it)."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": plan.text if not plan.tool_calls else None,
    }
    if show_reasoning:
        message["reasoning_content"] = plan.thinking
    if plan.tool_calls:
        message["tool_calls"] = [
            {
                "id": "call_" + c.tag,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for c in plan.tool_calls
        ]
    message["refusal"] = None
    message["annotations"] = []
    finish = FINISH[plan.finish]
    choices = [
        {"index": i, "message": message, "logprobs": None, "finish_reason": finish}
        for i in range(n)
    ]
    out: dict[str, Any] = {"model": model, "choices": choices}
    if usage:
        out["usage"] = chat_usage(prompt, cached, plan)
    out["service_tier"] = "default"
    out["system_fingerprint"] = "fp_mock"
    return b"," + orjson.dumps(out)[1:]


def chat_frames(
    cid: str,
    created: int,
    model: str,
    plan: Plan,
    n: int,
    include_usage: bool,
    obfuscate: bool,
    usage: dict[str, Any] | None,
    show_reasoning: bool,
    d: Directives,
) -> list[list[bytes]]:
    head = (
        b'data: {"id":"' + cid.encode() + b'","object":"chat.completion.chunk","created":'
        + str(created).encode() + b',"model":' + orjson.dumps(model)
        + b',"service_tier":"default","system_fingerprint":"fp_mock","choices":[{"index":'
    )  # fmt: skip
    usage_null = b',"usage":null' if include_usage else b""

    def chunk(index: int, delta: bytes, finish: bytes = b"null") -> bytes:
        tail = b"}]" + usage_null + (obfuscation(len(delta)) if obfuscate else b"") + b"}\n\n"
        return (
            head
            + str(index).encode()
            + b',"delta":'
            + delta
            + b',"logprobs":null,"finish_reason":'
            + finish
            + tail
        )

    preamble: list[bytes] = []
    body: list[bytes] = []
    for i in range(n):
        events = preamble if i == 0 else body
        if plan.tool_calls:
            for k, call in enumerate(plan.tool_calls):
                start = {
                    "index": k,
                    "id": "call_" + call.tag,
                    "type": "function",
                    "function": {"name": call.name, "arguments": ""},
                }
                if k == 0:
                    delta = {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [start],
                        "refusal": None,
                    }
                    events.append(chunk(i, orjson.dumps(delta)))
                else:
                    body.append(chunk(i, orjson.dumps({"tool_calls": [start]})))
                for piece in _fragments(call.arguments):
                    body.append(
                        chunk(
                            i,
                            orjson.dumps(
                                {"tool_calls": [{"index": k, "function": {"arguments": piece}}]}
                            ),
                        )
                    )
        else:
            if show_reasoning:
                events.append(
                    chunk(i, b'{"role":"assistant","content":null,"reasoning_content":""}')
                )
                for piece in plan.thinking_pieces:
                    body.append(
                        chunk(i, orjson.dumps({"content": None, "reasoning_content": piece}))
                    )
            else:
                events.append(chunk(i, b'{"role":"assistant","content":"","refusal":null}'))
            content = [chunk(i, orjson.dumps({"content": piece})) for piece in plan.pieces]
            # `repeat`: the same chunk objects again, so any stream size costs the mock a list.
            body.extend(content * max(1, d.repeat or 1))
        finish = b'"' + FINISH[plan.finish].encode() + b'"'
        (body if body else preamble).append(chunk(i, b"{}", finish))
    trailer: list[bytes] = []
    if usage is not None:
        data = orjson.dumps(usage)
        trailer.append(
            b'data: {"id":"' + cid.encode() + b'","object":"chat.completion.chunk","created":'
            + str(created).encode() + b',"model":' + orjson.dumps(model)
            + b',"service_tier":"default","system_fingerprint":"fp_mock","choices":[],"usage":'
            + data
            + (obfuscation(len(data)) if obfuscate else b"") + b"}\n\n"
        )  # fmt: skip
    trailer.append(DONE)
    marked = [(e, False) for e in preamble] + [(e, True) for e in body]
    return group(marked + [(e, False) for e in trailer], d, STREAM_ERROR)


def _fragments(arguments: str) -> list[str]:
    return split_even(arguments, max(1, min(8, len(arguments) // 6)))
