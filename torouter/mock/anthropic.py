"""Mock Anthropic: ``/v1/messages``, ``/v1/messages/count_tokens`` and the model list.

Streams follow the real wire: every event has an ``event:`` line; most data JSON is padded with
spaces before its closing brace while ``ping`` is ``{"type": "ping"}``; blocks are contiguous
from index 0 (thinking, then text or tool_use), one ping follows the first block start, and
``message_delta`` carries the cumulative usage.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable
from typing import Any

import orjson

from torouter.mock.cache import PromptUsage
from torouter.mock.context import Call
from torouter.mock.faults import NONE, Directives
from torouter.mock.openai import MEDIA_CHARS
from torouter.mock.plan import Ask, Plan, make_plan
from torouter.mock.provider import Provider, group, loads_object
from torouter.mock.structured import anthropic_want
from torouter.mock.text import new_id, signature, split_even, tokens

__all__ = ["Anthropic", "pad", "rfc3339"]

JSON = b"application/json"
SSE = b"text/event-stream; charset=utf-8"
PING = b'event: ping\ndata: {"type": "ping"}\n\n'
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_MESSAGES = {
    429: (
        "Number of request tokens has exceeded your per-minute rate limit "
        "(https://docs.claude.com/en/api/rate-limits); see the response headers for current "
        "usage. Please reduce the prompt length or the maximum tokens requested, or try again "
        "later. You may also contact sales at https://www.anthropic.com/contact-sales to discuss "
        "your options for a rate limit increase."
    ),
    500: "Internal server error",
    503: "Service unavailable",
    504: "Request timed out",
    529: "Overloaded",
}
_STOP = {
    "stop": "end_turn",
    "stop_sequence": "stop_sequence",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
REFUSAL = {
    "type": "refusal",
    "category": "cyber",
    "explanation": "This request triggered restrictions on violative content (mock fault).",
}
NOCREDIT = (
    "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to "
    "upgrade or purchase credits."
)
MODELS = (
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-01T00:00:00Z"),
    ("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-14T00:00:00Z"),
)


def pad(data: bytes, seq: int) -> bytes:
    """Anthropic's quirk: a run of spaces before the closing brace of the data JSON."""
    return data[:-1] + b" " * ((seq * 7 + 3) % 16) + b"}"


def rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.ceil(epoch)))


def _content_chars(content: Any) -> tuple[str, int, bool, bool]:
    """(text, chars, has cache_control, has tool_result) of a message's content."""
    if isinstance(content, str):
        return content, len(content), False, False
    texts = []
    chars = 0
    marked = tool_result = False
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        marked = marked or "cache_control" in block
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
            chars += len(block["text"])
        elif kind == "thinking":
            chars += len(str(block.get("thinking", "")))
        elif kind == "tool_use":
            chars += len(orjson.dumps(block.get("input", {})))
        elif kind == "tool_result":
            tool_result = True
            chars += _content_chars(block.get("content", ""))[1]
        else:
            chars += MEDIA_CHARS
    return " ".join(texts), chars, marked, tool_result


def messages_prompt(
    body: dict[str, Any],
) -> tuple[list[tuple[Hashable, int]], str, bool, int, bool]:
    """Cache segments, last user text, after-tool flag, last breakpoint index, 1 h TTL flag."""
    segments: list[tuple[Hashable, int]] = []
    breakpoint = -1
    raw = orjson.dumps({k: body.get(k) for k in ("tools", "system")})
    one_hour = b'"ttl":"1h"' in raw
    tools = body.get("tools")
    if tools:
        listed = orjson.dumps(tools)
        segments.append((listed, len(listed)))
        if b"cache_control" in listed:
            breakpoint = 0
    system = body.get("system")
    if system:
        text, chars, marked, _ = _content_chars(system)
        segments.append(
            ((("system", system) if isinstance(system, str) else orjson.dumps(system)), chars)
        )
        if marked:
            breakpoint = len(segments) - 1
    last = ""
    after_tool = False
    for message in body["messages"]:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        content = message.get("content")
        text, chars, marked, after_tool = _content_chars(content)
        key = (role, content) if isinstance(content, str) else orjson.dumps(message)
        segments.append((key, chars))
        if marked:
            breakpoint = len(segments) - 1
            one_hour = one_hour or b'"ttl":"1h"' in key
        if role == "user" and text:
            last = text
    if isinstance(body.get("cache_control"), dict):
        breakpoint = len(segments) - 1
        one_hour = one_hour or body["cache_control"].get("ttl") == "1h"
    return segments, last, after_tool, breakpoint, one_hour


def _usage(usage: PromptUsage, output: int, *, full: bool = True) -> dict[str, Any]:
    write = usage.write_tokens
    out: dict[str, Any] = {
        "input_tokens": usage.prompt_tokens - usage.cached_tokens - write,
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": usage.cached_tokens,
    }
    if full:
        out["cache_creation"] = {
            "ephemeral_5m_input_tokens": 0 if usage.write_1h else write,
            "ephemeral_1h_input_tokens": write if usage.write_1h else 0,
        }
    out["output_tokens"] = output
    if full:
        out["service_tier"] = "standard"
    return out


class Anthropic(Provider):
    name = "anthropic"

    def __init__(self) -> None:
        self.handlers = {
            "messages": self.messages,
            "count_tokens": self.count_tokens,
            "models": self.models,
            "model": self.model,
        }

    # -- errors ---------------------------------------------------------------------------

    async def error(
        self, call: Call, status: int, message: str, kind: str | None = None, **extra: Any
    ) -> None:
        kind = kind or _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        request_id = call.id_header[1].decode() if call.id_header else "req_" + new_id(24)
        body = {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": request_id,
        }
        await call.reply(status, orjson.dumps(body), JSON, extra.get("headers", ()))

    async def auth_failure(self, call: Call, reason: str) -> None:
        if reason == "missing":
            await self.error(call, 401, "x-api-key header is required")
        elif reason == "invalid":
            await self.error(call, 401, "invalid x-api-key")
        else:
            await self.error(call, 400, NOCREDIT, "invalid_request_error")

    async def fault(self, call: Call, status: int, d: Directives) -> None:
        headers: tuple[tuple[bytes, bytes], ...] = ()
        if status == 429:
            retry = call.config.retry_after_s if d.retry_after_s is None else d.retry_after_s
            reset = rfc3339(time.time() + retry).encode()
            headers = (
                (b"retry-after", str(math.ceil(retry)).encode()),
                (b"anthropic-ratelimit-requests-limit", b"50"),
                (b"anthropic-ratelimit-requests-remaining", b"0"),
                (b"anthropic-ratelimit-requests-reset", reset),
                (b"anthropic-ratelimit-tokens-limit", b"80000"),
                (b"anthropic-ratelimit-tokens-remaining", b"80000"),
                (b"anthropic-ratelimit-tokens-reset", reset),
            )
        if status == 401:
            await self.auth_failure(call, "invalid")
            return
        message = _MESSAGES.get(status, f"Mock fault: HTTP {status}")
        await self.error(call, status, message, headers=headers)

    async def _parse(self, call: Call, *required: str) -> dict[str, Any] | None:
        if not any(name == b"anthropic-version" for name, _ in call.scope["headers"]):
            await self.error(call, 400, "anthropic-version: header is required")
            return None
        body = loads_object(call.body)
        if body is None:
            await self.error(
                call, 400, "There was an error parsing the body of your request as JSON."
            )
            return None
        for name in required:
            if body.get(name) is None:
                await self.error(call, 400, f"{name}: Field required")
                return None
        if not isinstance(body["messages"], list):
            await self.error(call, 400, "messages: Input should be a valid list")
            return None
        return body

    # -- messages -------------------------------------------------------------------------

    async def messages(self, call: Call) -> None:
        body = await self._parse(call, "model", "max_tokens", "messages")
        if body is None:
            return
        segments, last, after_tool, breakpoint, one_hour = messages_prompt(body)
        d, prompt = call.directives(last)
        if d is not NONE and await self.gate(call, d):
            return
        max_tokens = body["max_tokens"]
        thinking = body.get("thinking")
        if not isinstance(thinking, dict):
            thinking = {}
        thinking_tokens = 0
        if thinking.get("type") == "enabled":
            budget = thinking.get("budget_tokens")
            if not isinstance(budget, int) or budget < 1024:
                message = (
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
                )
                await self.error(call, 400, message)
                return
            if not isinstance(max_tokens, int) or max_tokens <= budget:
                await self.error(
                    call, 400, "`max_tokens` must be greater than `thinking.budget_tokens`."
                )
                return
            thinking_tokens = min(call.config.thinking_tokens, budget)
        elif thinking.get("type") == "adaptive":
            thinking_tokens = call.config.thinking_tokens
        tools = [
            (t["name"], t.get("input_schema"))
            for t in body.get("tools") or ()
            if isinstance(t, dict)
            and isinstance(t.get("name"), str)
            and t.get("type") in (None, "custom")
        ]
        choice = body.get("tool_choice")
        if not isinstance(choice, dict):
            choice = {}
        forced = {"any": "", "tool": choice.get("name", ""), "none": "none"}.get(
            choice.get("type", "")
        )
        stops = [s for s in body.get("stop_sequences") or () if isinstance(s, str)]
        ask = Ask(prompt, tools, forced, after_tool, max_tokens, stops, thinking_tokens)
        ask.json = anthropic_want(body)
        plan = make_plan(ask, d, call.config)
        usage = call.cache.measure(
            call.credential, segments, breakpoint=breakpoint, write_1h=one_hour, forced=d.cache
        )
        model = body["model"]
        mid = "msg_01" + new_id(22)
        if body.get("stream") is True:
            await call.stream(self._frames(mid, model, plan, usage, d), SSE, d)
            return
        out: dict[str, Any] = {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": _blocks(plan),
            "stop_reason": _STOP[plan.finish],
            "stop_sequence": plan.stop_sequence,
        }
        if plan.finish == "content_filter":
            out["content"] = []
            out["stop_details"] = REFUSAL
        if not d.no_usage:
            out["usage"] = _usage(usage, plan.output_tokens)
        data = orjson.dumps(out)
        if d.malformed:
            data = data[: len(data) // 2]
        ttft, interval, chunks = call.timing(d)
        delay = ttft + interval * max(0, chunks - 1)
        await call.reply(200, data, JSON, delay_ms=delay, disconnect=d.disconnect_after is not None)

    def _frames(
        self, mid: str, model: str, plan: Plan, usage: PromptUsage, d: Directives
    ) -> list[list[bytes]]:
        events: list[tuple[bytes, bool]] = []

        def emit(name: bytes, payload: dict[str, Any], paced: bool = False) -> None:
            data = pad(orjson.dumps(payload), len(events))
            events.append((b"event: " + name + b"\ndata: " + data + b"\n\n", paced))

        message: dict[str, Any] = {
            "model": model,
            "id": mid,
            "type": "message",
            "role": "assistant",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
        }
        if not d.no_usage:
            message["usage"] = _usage(usage, 1)
        emit(b"message_start", {"type": "message_start", "message": message})
        index = 0
        pinged = False

        def start(block: dict[str, Any]) -> None:
            nonlocal pinged
            emit(
                b"content_block_start",
                {"type": "content_block_start", "index": index, "content_block": block},
            )
            if not pinged:
                events.append((PING, False))
                pinged = True

        def delta(body: dict[str, Any], paced: bool = True) -> None:
            emit(
                b"content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": body},
                paced,
            )

        def stop() -> None:
            nonlocal index
            emit(b"content_block_stop", {"type": "content_block_stop", "index": index})
            index += 1

        refused = plan.finish == "content_filter"
        if plan.thinking and not refused:
            start({"type": "thinking", "thinking": "", "signature": ""})
            for piece in plan.thinking_pieces:
                delta({"type": "thinking_delta", "thinking": piece})
            delta({"type": "thinking_delta", "thinking": ""}, False)
            delta({"type": "signature_delta", "signature": signature(plan.thinking)}, False)
            stop()
        for call in plan.tool_calls:
            start({"type": "tool_use", "id": "toolu_01" + call.tag, "name": call.name, "input": {}})
            delta({"type": "input_json_delta", "partial_json": ""}, False)
            for piece in split_even(call.arguments, max(1, min(8, len(call.arguments) // 6))):
                delta({"type": "input_json_delta", "partial_json": piece})
            stop()
        if not plan.tool_calls and not refused:
            start({"type": "text", "text": ""})
            for piece in plan.pieces:
                delta({"type": "text_delta", "text": piece})
            stop()
        if not pinged:
            events.append((PING, False))
        stop_delta: dict[str, Any] = {
            "stop_reason": _STOP[plan.finish],
            "stop_sequence": plan.stop_sequence,
        }
        if refused:
            stop_delta["stop_details"] = REFUSAL
        final: dict[str, Any] = {"type": "message_delta", "delta": stop_delta}
        if not d.no_usage:
            final["usage"] = _usage(usage, plan.output_tokens, full=False)
        emit(b"message_delta", final)
        emit(b"message_stop", {"type": "message_stop"})
        error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        return group(events, d, [b"event: error\ndata: " + orjson.dumps(error) + b"\n\n"])

    # -- count tokens, models -------------------------------------------------------------

    async def count_tokens(self, call: Call) -> None:
        body = await self._parse(call, "model", "messages")
        if body is None:
            return
        segments, last, *_ = messages_prompt(body)
        d, _ = call.directives(last)
        if d is not NONE and await self.gate(call, d):
            return
        count = max(1, tokens(sum(chars for _, chars in segments)))
        await call.reply(200, orjson.dumps({"input_tokens": count}), JSON)

    async def models(self, call: Call) -> None:
        data = [
            {"type": "model", "id": i, "display_name": n, "created_at": c} for i, n, c in MODELS
        ]
        out = {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"],
            "last_id": data[-1]["id"],
        }
        await call.reply(200, orjson.dumps(out), JSON)

    async def model(self, call: Call) -> None:
        known = {i: (n, c) for i, n, c in MODELS}
        name, created = known.get(call.param, (call.param, "2025-01-01T00:00:00Z"))
        out = {"type": "model", "id": call.param, "display_name": name, "created_at": created}
        await call.reply(200, orjson.dumps(out), JSON)


def _blocks(plan: Plan) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if plan.thinking:
        blocks.append(
            {"type": "thinking", "thinking": plan.thinking, "signature": signature(plan.thinking)}
        )
    for call in plan.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": "toolu_01" + call.tag, "name": call.name, "input": call.args}
        )
    if not plan.tool_calls:
        blocks.append({"type": "text", "text": plan.text})
    return blocks
