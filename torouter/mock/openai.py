"""Mock OpenAI: errors, legacy completions, the model list, and what the OpenAI modules share.

Chat completions are in ``openai_chat.py``, the Responses API in ``openai_responses.py``;
embeddings, images, audio, moderations and rerank in ``openai_media.py``. Bodies are compact JSON
(the real API indents; clients compare parsed JSON), which keeps a chat answer near 0.55 KB.
"""

from __future__ import annotations

import math
import time
from typing import Any

import orjson

from torouter.mock.context import Call
from torouter.mock.faults import NONE, Directives
from torouter.mock.plan import Ask, make_plan
from torouter.mock.provider import Provider, group, loads_object
from torouter.mock.text import new_id

__all__ = [
    "OpenAI",
    "duration",
    "effort_tokens",
    "parts_text",
    "send_bytes",
    "send_json",
    "stops_of",
]

JSON = b"application/json"
SSE = b"text/event-stream; charset=utf-8"
DONE = b"data: [DONE]\n\n"
OVERLOADED = "The server is currently overloaded. Please try again later."
MEDIA_CHARS = 340  # an image or other media part counts as 85 tokens

FINISH = {
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
    return orjson.dumps({"error": error}) + b"\n"


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


def stops_of(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(s for s in value if isinstance(s, str))
    return ()


def effort_tokens(effort: Any, unit: int) -> int:
    return _EFFORT.get(effort, 2) * unit // 2 if isinstance(effort, str) else 0


class OpenAI(Provider):
    name = "openai"

    def __init__(self) -> None:
        from torouter.mock import openai_chat, openai_media, openai_responses

        self.handlers = {
            "chat": openai_chat.chat,
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
        finish = FINISH[plan.finish]
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
        await call.reply(200, orjson.dumps({"object": "list", "data": data}), JSON)

    async def model(self, call: Call) -> None:
        model_id = call.param
        out = {"id": model_id, "object": "model", "created": 1715367049, "owned_by": "system"}
        await call.reply(200, orjson.dumps(out), JSON)


async def send_json(call: Call, out: dict[str, Any], d: Directives) -> None:
    """A 200 JSON answer, delayed like a whole generation, possibly malformed or cut."""
    await send_bytes(call, orjson.dumps(out), d)


async def send_bytes(call: Call, data: bytes, d: Directives) -> None:
    """``send_json`` for a body already serialized."""
    if d is NONE and call.config.instant:
        await call.reply(200, data, JSON)
        return
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
