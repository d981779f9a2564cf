"""Mock OpenAI: errors, chat completions, legacy completions and the model list.

The Responses API is in ``openai_responses.py``; embeddings, images, audio, moderations and rerank
in ``openai_media.py``. Non-stream bodies are indented like the real API's; stream chunks are
compact, carry ``obfuscation`` padding, and ``"usage":null`` when usage was asked for.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable
from typing import Any

import orjson

from torouter.mock.context import Call
from torouter.mock.faults import NONE, Directives
from torouter.mock.plan import Ask, Plan, make_plan
from torouter.mock.provider import Provider, group, loads_object
from torouter.mock.text import new_id, split_even

__all__ = ["OpenAI", "chat_prompt", "duration", "parts_text", "send_json"]

JSON = b"application/json"
SSE = b"text/event-stream; charset=utf-8"
DONE = b"data: [DONE]\n\n"
OVERLOADED = "The server is currently overloaded. Please try again later."
STREAM_ERROR = (
    b'data: {"error":{"message":"' + OVERLOADED.encode() + b'","type":"server_error",'
    b'"param":null,"code":"server_error"}}\n\n',
    DONE,
)
INDENT = 0  # the real API indents its JSON; compact keeps responses near 0.55 KB
MEDIA_CHARS = 340  # an image or other media part counts as 85 tokens

_FINISH = {
    "stop": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
}
_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "invalid_request_error"}
_TYPES |= {404: "invalid_request_error", 409: "invalid_request_error", 413: "invalid_request_error"}
_TYPES |= {422: "invalid_request_error", 429: "requests"}
_EFFORT = {"none": 0, "minimal": 0, "low": 1, "medium": 2, "high": 4, "xhigh": 6}
_PAD = b"abcdefghijklmnopqrstuvwxyzABCDEF"
MODELS = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1",
    "gpt-5",
    "gpt-5-mini",
    "o3",
    "o4-mini",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "gpt-image-1",
    "dall-e-3",
    "whisper-1",
    "gpt-4o-transcribe",
    "tts-1",
    "gpt-4o-mini-tts",
    "omni-moderation-latest",
    "gpt-3.5-turbo-instruct",
)


def duration(seconds: float) -> str:
    """OpenAI's reset format: ``6m0s``, ``1s``, ``120ms``."""
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    total = math.ceil(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    out = f"{hours}h" if hours else ""
    if hours or minutes:
        out += f"{minutes}m"
    return f"{out}{secs}s"


def envelope(message: str, kind: str, param: str | None = None, code: str | None = None) -> bytes:
    error = {"message": message, "type": kind, "param": param, "code": code}
    return orjson.dumps({"error": error}, option=INDENT) + b"\n"


def parts_text(content: Any) -> tuple[str, int]:
    """Text of a content value (string or parts) and its size in characters."""
    if isinstance(content, str):
        return content, len(content)
    if not isinstance(content, list):
        return "", 0
    texts = []
    chars = 0
    for part in content:
        if isinstance(part, dict):
            text = part.get("text")
            if isinstance(text, str):
                texts.append(text)
                chars += len(text)
            else:
                chars += MEDIA_CHARS
        elif isinstance(part, str):
            texts.append(part)
            chars += len(part)
    return " ".join(texts), chars


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


def stops_of(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(s for s in value if isinstance(s, str))
    return ()


def effort_tokens(effort: Any, unit: int) -> int:
    return _EFFORT.get(effort, 2) * unit // 2 if isinstance(effort, str) else 0


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


class OpenAI(Provider):
    name = "openai"

    def __init__(self) -> None:
        from torouter.mock import openai_media, openai_responses

        self.handlers = {
            "chat": self.chat,
            "completions": self.completions,
            "models": self.models,
            "model": self.model,
            "responses": openai_responses.respond,
            "input_tokens": openai_responses.input_tokens,
            "embeddings": openai_media.embeddings,
            "moderations": openai_media.moderations,
            "rerank": openai_media.rerank,
            "images": openai_media.images,
            "image_edits": openai_media.image_edits,
            "transcriptions": openai_media.transcriptions,
            "speech": openai_media.speech,
        }

    # -- errors ---------------------------------------------------------------------------

    async def error(
        self, call: Call, status: int, message: str, kind: str | None = None, **extra: Any
    ) -> None:
        kind = kind or _TYPES.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        )
        body = envelope(message, kind, extra.get("param"), extra.get("code"))
        await call.reply(status, body, JSON, extra.get("headers", ()))

    async def auth_failure(self, call: Call, reason: str) -> None:
        if reason == "missing":
            await self.error(call, 401, MISSING_KEY)
        elif reason == "invalid":
            key = call.credential
            masked = f"{key[:6]}{'*' * max(0, len(key) - 10)}{key[-4:]}" if len(key) > 10 else "***"
            message = (
                f"Incorrect API key provided: {masked}. You can find your API key at "
                "https://platform.openai.com/account/api-keys."
            )
            await self.error(call, 401, message, code="invalid_api_key")
        else:
            await self.error(call, 429, QUOTA, "insufficient_quota", code="insufficient_quota")

    async def fault(self, call: Call, status: int, d: Directives) -> None:
        retry = call.config.retry_after_s if d.retry_after_s is None else d.retry_after_s
        if status == 429:
            headers = (
                (b"retry-after", str(math.ceil(retry)).encode()),
                (b"x-ratelimit-limit-requests", b"500"),
                (b"x-ratelimit-remaining-requests", b"0"),
                (b"x-ratelimit-reset-requests", duration(retry).encode()),
                (b"x-ratelimit-limit-tokens", b"200000"),
                (b"x-ratelimit-remaining-tokens", b"199000"),
                (b"x-ratelimit-reset-tokens", duration(min(retry, 0.3)).encode()),
            )
            message = (
                "Rate limit reached for requests in organization org-mock on requests per min "
                f"(RPM): Limit 500, Used 500, Requested 1. Please try again in {duration(retry)}. "
                "Visit https://platform.openai.com/account/rate-limits to learn more."
            )
            await self.error(
                call, 429, message, "requests", code="rate_limit_exceeded", headers=headers
            )
        elif status == 404:
            message = "The model `mock` does not exist or you do not have access to it."
            await self.error(call, 404, message, code="model_not_found")
        elif status == 401:
            await self.auth_failure(call, "invalid")
        elif status >= 500:
            message = _SERVER.get(
                status, f"The server had an error processing your request ({status})."
            )
            await self.error(call, status, message, "server_error")
        else:
            await self.error(call, status, f"Mock fault: HTTP {status}.")

    async def parse(
        self, call: Call, required: str | None = "messages", *, model: bool = True
    ) -> dict[str, Any] | None:
        body = loads_object(call.body)
        if body is None:
            await self.error(call, 400, BAD_JSON)
            return None
        if "model" not in body and call.param:  # Azure: the deployment names the model
            body["model"] = call.param
        if model and not isinstance(body.get("model"), str):
            await self.error(call, 400, "you must provide a model parameter")
            return None
        if required and not body.get(required):
            message = f"Missing required parameter: '{required}'."
            await self.error(call, 400, message, param=required, code="missing_required_parameter")
            return None
        return body

    # -- chat completions -----------------------------------------------------------------

    async def chat(self, call: Call) -> None:
        body = await self.parse(call)
        if body is None:
            return
        if not isinstance(body["messages"], list):
            await self.error(
                call, 400, "Invalid type for 'messages': expected an array.", param="messages"
            )
            return
        segments, last, after_tool = chat_prompt(body)
        d, prompt = call.directives(last)
        if d is not NONE and await self.gate(call, d):
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
        )
        plan = make_plan(ask, d, call.config)
        usage = call.cache.measure(call.credential, segments, forced=d.cache)
        show_reasoning = bool(d.reasoning_content or "reasoner" in model) and bool(plan.thinking)
        n = body.get("n") if isinstance(body.get("n"), int) and body["n"] > 1 else 1
        cid = "chatcmpl-" + new_id(29)
        created = int(time.time())
        if body.get("stream") is True:
            options = body.get("stream_options")
            include = isinstance(options, dict) and options.get("include_usage") is True
            obfuscate = not (
                isinstance(options, dict) and options.get("include_obfuscation") is False
            )
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
        finish = _FINISH[plan.finish]
        choices = [
            {"index": i, "message": message, "logprobs": None, "finish_reason": finish}
            for i in range(n)
        ]
        out: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": choices,
        }
        if not d.no_usage:
            out["usage"] = chat_usage(usage.prompt_tokens, usage.cached_tokens, plan)
        out["service_tier"] = "default"
        out["system_fingerprint"] = "fp_mock"
        await send_json(call, out, d)

    # -- legacy completions ---------------------------------------------------------------

    async def completions(self, call: Call) -> None:
        body = await self.parse(call, "prompt")
        if body is None:
            return
        prompt = body["prompt"]
        text = (
            prompt
            if isinstance(prompt, str)
            else prompt[0]
            if isinstance(prompt, list) and prompt
            else ""
        )
        text = text if isinstance(text, str) else ""
        d, cleaned = call.directives(text)
        if d is not NONE and await self.gate(call, d):
            return
        plan = make_plan(
            Ask(cleaned, max_tokens=body.get("max_tokens") or 16, stops=stops_of(body.get("stop"))),
            d,
            call.config,
        )
        usage = call.cache.measure(call.credential, [(text, len(text))], forced=d.cache)
        counts = {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": plan.output_tokens,
            "total_tokens": usage.prompt_tokens + plan.output_tokens,
        }
        cid = "cmpl-" + new_id(29)
        head = {
            "id": cid,
            "object": "text_completion",
            "created": int(time.time()),
            "model": body["model"],
        }
        finish = _FINISH[plan.finish]
        if body.get("stream") is True:
            events = []
            for piece in plan.pieces or ("",):
                choice = {"text": piece, "index": 0, "logprobs": None, "finish_reason": None}
                events.append(b"data: " + orjson.dumps({**head, "choices": [choice]}) + b"\n\n")
            last = {"text": "", "index": 0, "logprobs": None, "finish_reason": finish}
            trailer = [b"data: " + orjson.dumps({**head, "choices": [last]}) + b"\n\n"]
            options = body.get("stream_options")
            if (
                isinstance(options, dict)
                and options.get("include_usage") is True
                and not d.no_usage
            ):
                trailer.append(
                    b"data: " + orjson.dumps({**head, "choices": [], "usage": counts}) + b"\n\n"
                )
            trailer.append(DONE)
            await call.stream(frames_of([], events, trailer, d), SSE, d)
            return
        choice = {"text": plan.text, "index": 0, "logprobs": None, "finish_reason": finish}
        out = {**head, "choices": [choice]}
        if not d.no_usage:
            out["usage"] = counts
        await send_json(call, out, d)

    # -- models ---------------------------------------------------------------------------

    async def models(self, call: Call) -> None:
        data = [
            {"id": m, "object": "model", "created": 1715367049, "owned_by": "system"}
            for m in MODELS
        ]
        await call.reply(200, orjson.dumps({"object": "list", "data": data}, option=INDENT), JSON)

    async def model(self, call: Call) -> None:
        model_id = call.param
        out = {"id": model_id, "object": "model", "created": 1715367049, "owned_by": "system"}
        await call.reply(200, orjson.dumps(out, option=INDENT), JSON)


async def send_json(call: Call, out: dict[str, Any], d: Directives) -> None:
    """A 200 JSON answer, delayed like a whole generation, possibly malformed or cut."""
    data = orjson.dumps(out, option=INDENT)
    if d.malformed:
        data = data[: len(data) // 2]
    ttft, interval, chunks = call.timing(d)
    delay = ttft + interval * max(0, chunks - 1)
    await call.reply(200, data, JSON, delay_ms=delay, disconnect=d.disconnect_after is not None)


def frames_of(
    preamble: list[bytes], body: list[bytes], trailer: list[bytes], d: Directives
) -> list[list[bytes]]:
    """Preamble with the first body event, one send per body event after, the trailer last."""
    events = [(e, False) for e in preamble] + [(e, True) for e in body]
    return group(events + [(e, False) for e in trailer], d)


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
            for piece in plan.pieces:
                body.append(chunk(i, orjson.dumps({"content": piece})))
        finish = b'"' + _FINISH[plan.finish].encode() + b'"'
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
    events = [(e, False) for e in preamble] + [(e, True) for e in body]
    return group(events + [(e, False) for e in trailer], d, STREAM_ERROR)


def _fragments(arguments: str) -> list[str]:
    return split_even(arguments, max(1, min(8, len(arguments) // 6)))


MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
    "username) if you're accessing the API from your browser and are prompted for a username. You "
    "can obtain an API key from https://platform.openai.com/account/api-keys."
)
QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
    "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
    "valid JSON. If you have trouble figuring out how to fix this, please contact us through our "
    "help center at help.openai.com.)"
)
_SERVER = {
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The server is overloaded or not ready yet.",
    504: "Gateway timeout.",
    529: OVERLOADED,
}
