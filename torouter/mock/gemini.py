"""Mock Gemini API: generateContent, streamGenerateContent, countTokens, embedContent,
batchEmbedContents and the model list, on ``/v1beta`` and ``/v1``.

Streams with ``alt=sse`` are ``data: <JSON>`` events separated by ``\\r\\n\\r\\n``; without it the
answer is a JSON array streamed element by element. Both camelCase and snake_case request fields
are read, as the real API accepts both.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import orjson

from torouter.mock.context import Call
from torouter.mock.faults import NONE, Directives
from torouter.mock.openai import MEDIA_CHARS
from torouter.mock.plan import Ask, Plan, make_plan
from torouter.mock.provider import Provider, group, loads_object
from torouter.mock.structured import gemini_want
from torouter.mock.text import embedding, new_id, signature, tokens

__all__ = ["STATUS", "Gemini"]

JSON = b"application/json; charset=UTF-8"
SSE = b"text/event-stream"
INDENT = orjson.OPT_INDENT_2
STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "FAILED_PRECONDITION",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
    529: "UNAVAILABLE",
}
_MESSAGES = {
    429: (
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
    ),
    500: (
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting"
    ),
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
    529: "The model is overloaded. Please try again later.",
}
UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
    "or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_FINISH = {
    "stop": "STOP",
    "stop_sequence": "STOP",
    "tool_calls": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
}
_SAFETY = [
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
]
_GENERATE = ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]
MODELS = (
    ("gemini-2.5-flash", "Gemini 2.5 Flash", 1048576, 65536, _GENERATE),
    ("gemini-2.5-pro", "Gemini 2.5 Pro", 1048576, 65536, _GENERATE),
    ("gemini-2.0-flash", "Gemini 2.0 Flash", 1048576, 8192, _GENERATE),
    ("gemini-embedding-001", "Gemini Embedding 001", 2048, 1, ["embedContent", "countTokens"]),
    ("text-embedding-004", "Text Embedding 004", 2048, 1, ["embedContent"]),
)


def _get(obj: Any, camel: str, snake: str) -> Any:
    if not isinstance(obj, dict):
        return None
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _parts(parts: Any) -> tuple[str, int, bool]:
    """(text, chars, has a functionResponse) of a list of parts."""
    texts = []
    chars = 0
    response = False
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            if not part.get("thought"):
                texts.append(part["text"])
            chars += len(part["text"])
        elif "functionCall" in part or "function_call" in part:
            chars += len(orjson.dumps(_get(part, "functionCall", "function_call")))
        elif "functionResponse" in part or "function_response" in part:
            response = True
            chars += len(orjson.dumps(_get(part, "functionResponse", "function_response")))
        else:
            chars += MEDIA_CHARS
    return " ".join(texts), chars, response


def contents_prompt(body: dict[str, Any]) -> tuple[list[tuple[Hashable, int]], str, bool]:
    """Cache segments, last user text, and whether the last turn is a function response."""
    segments: list[tuple[Hashable, int]] = []
    tools = body.get("tools")
    if tools:
        key = orjson.dumps(tools)
        segments.append((key, len(key)))
    system = _get(body, "systemInstruction", "system_instruction")
    if system:
        _, chars, _ = _parts(system.get("parts") if isinstance(system, dict) else None)
        segments.append((orjson.dumps(system), chars))
    cached = _get(body, "cachedContent", "cached_content")
    if isinstance(cached, str):
        segments.append((("cachedContent", cached), 4096))
    last = ""
    after_tool = False
    contents = body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    for content in contents if isinstance(contents, list) else ():
        if not isinstance(content, dict):
            continue
        text, chars, after_tool = _parts(content.get("parts"))
        segments.append((orjson.dumps(content), chars))
        if content.get("role", "user") == "user" and text:
            last = text
    return segments, last, after_tool


def _tools(body: dict[str, Any]) -> tuple[list[tuple[str, Any]], str | None]:
    tools = []
    for tool in body.get("tools") or ():
        for decl in _get(tool, "functionDeclarations", "function_declarations") or ():
            if isinstance(decl, dict) and isinstance(decl.get("name"), str):
                schema = decl.get("parameters") or _get(
                    decl, "parametersJsonSchema", "parameters_json_schema"
                )
                tools.append((decl["name"], schema))
    config = _get(
        _get(body, "toolConfig", "tool_config"), "functionCallingConfig", "function_calling_config"
    )
    mode = str(_get(config, "mode", "mode") or "").upper()
    if mode == "NONE":
        return tools, "none"
    if mode == "ANY":
        allowed = _get(config, "allowedFunctionNames", "allowed_function_names") or [""]
        return tools, str(allowed[0])
    return tools, None


class Gemini(Provider):
    name = "gemini"

    def __init__(self) -> None:
        self.handlers = {
            "generateContent": self.generate,
            "streamGenerateContent": self.generate,
            "countTokens": self.count_tokens,
            "embedContent": self.embed,
            "batchEmbedContents": self.embed,
            "models": self.models,
            "model": self.model,
        }

    # -- errors ---------------------------------------------------------------------------

    async def error(
        self, call: Call, status: int, message: str, kind: str | None = None, **extra: Any
    ) -> None:
        error: dict[str, Any] = {"code": status, "message": message}
        error["status"] = kind or STATUS.get(
            status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT"
        )
        if extra.get("details"):
            error["details"] = extra["details"]
        body = orjson.dumps({"error": error}, option=INDENT) + b"\n"
        await call.reply(status, body, JSON)

    async def auth_failure(self, call: Call, reason: str) -> None:
        if reason in ("missing", "invalid"):
            await self.error(call, 401, UNAUTHENTICATED)
            return
        info = {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        }
        await self.error(
            call, 400, "API key not valid. Please pass a valid API key.", details=[info]
        )

    async def fault(self, call: Call, status: int, d: Directives) -> None:
        if status == 401:
            await self.auth_failure(call, "invalid")
            return
        details: list[dict[str, Any]] = []
        if status == 429:
            retry = call.config.retry_after_s if d.retry_after_s is None else d.retry_after_s
            violation = {
                "quotaMetric": (
                    "generativelanguage.googleapis.com/generate_content_free_tier_requests"
                ),
                "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                "quotaValue": "10",
            }
            details = [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry:g}s"},
            ]
        message = _MESSAGES.get(status, f"Mock fault: HTTP {status}")
        await self.error(call, status, message, details=details)

    async def not_found(self, call: Call) -> None:
        await self.error(call, 404, "Requested entity was not found.")

    async def _parse(self, call: Call) -> dict[str, Any] | None:
        body = loads_object(call.body)
        if body is None:
            await self.error(call, 400, "Invalid JSON payload received.")
        return body

    # -- generate -------------------------------------------------------------------------

    async def generate(self, call: Call) -> None:
        body = await self._parse(call)
        if body is None:
            return
        if isinstance(body.get("generateContentRequest"), dict):
            body = body["generateContentRequest"]
        if not body.get("contents"):
            await self.error(
                call, 400, "* GenerateContentRequest.contents: contents is not specified\n"
            )
            return
        segments, last, after_tool = contents_prompt(body)
        d, prompt = call.directives(last)
        if d is not NONE and await self.gate(call, d):
            return
        config = _get(body, "generationConfig", "generation_config") or {}
        thinking_config = _get(config, "thinkingConfig", "thinking_config")
        thinking_tokens = 0
        show_thoughts = False
        if isinstance(thinking_config, dict):
            budget = _get(thinking_config, "thinkingBudget", "thinking_budget")
            show_thoughts = bool(_get(thinking_config, "includeThoughts", "include_thoughts"))
            if budget != 0:
                thinking_tokens = call.config.thinking_tokens
                if isinstance(budget, int) and budget > 0:
                    thinking_tokens = min(thinking_tokens, budget)
        tools, forced = _tools(body) if body.get("tools") else ([], None)
        stops = [
            s for s in _get(config, "stopSequences", "stop_sequences") or () if isinstance(s, str)
        ]
        max_tokens = _get(config, "maxOutputTokens", "max_output_tokens")
        ask = Ask(prompt, tools, forced, after_tool, max_tokens, stops, thinking_tokens)
        ask.json = gemini_want(body)
        plan = make_plan(ask, d, call.config)
        usage = call.cache.measure(call.credential, segments, forced=d.cache)
        model = call.param.removeprefix("models/")
        head = {"modelVersion": model, "responseId": new_id(23)}
        counts = (usage.prompt_tokens, usage.cached_tokens)
        if call.op == "streamGenerateContent":
            sse = call.query.get("alt") == "sse"
            frames = self._frames(plan, counts, head, show_thoughts, sse, d)
            await call.stream(frames, SSE if sse else JSON, d)
            return
        parts: list[dict[str, Any]] = []
        if plan.thinking and show_thoughts:
            parts.append({"text": plan.thinking, "thought": True})
        parts.extend({"functionCall": {"name": c.name, "args": c.args}} for c in plan.tool_calls)
        if not plan.tool_calls and plan.text:
            parts.append({"text": plan.text})
        if plan.thinking and parts and not parts[-1].get("thought"):
            first = 1 if show_thoughts else 0
            parts[first] = {**parts[first], "thoughtSignature": signature(plan.thinking)}
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if plan.finish == "content_filter":
            candidate = {"safetyRatings": _SAFETY}
        candidate["finishReason"] = _FINISH[plan.finish]
        candidate["index"] = 0
        out: dict[str, Any] = {"candidates": [candidate]}
        if not d.no_usage:
            out["usageMetadata"] = _usage(counts, plan, plan.text_tokens + plan.tool_tokens)
        out.update(head)
        data = orjson.dumps(out, option=INDENT)
        if d.malformed:
            data = data[: len(data) // 2]
        ttft, interval, chunks = call.timing(d)
        delay = ttft + interval * max(0, chunks - 1)
        await call.reply(200, data, JSON, delay_ms=delay, disconnect=d.disconnect_after is not None)

    def _frames(
        self,
        plan: Plan,
        counts: tuple[int, int],
        head: dict[str, Any],
        show_thoughts: bool,
        sse: bool,
        d: Directives,
    ) -> list[list[bytes]]:
        events: list[tuple[bytes, bool]] = []
        sent_chars = 0
        pending_signature = signature(plan.thinking) if plan.thinking else None

        def emit(parts: list[dict[str, Any]] | None, finish: str | None) -> None:
            candidate: dict[str, Any] = {}
            if parts is not None:
                candidate["content"] = {"parts": parts, "role": "model"}
            if finish is not None:
                candidate["finishReason"] = finish
                if finish == "SAFETY":
                    candidate["safetyRatings"] = _SAFETY
            candidate["index"] = 0
            out: dict[str, Any] = {"candidates": [candidate]}
            if not d.no_usage:
                out["usageMetadata"] = _usage(counts, plan, tokens(sent_chars))
            out.update(head)
            data = orjson.dumps(out)
            if sse:
                events.append((b"data: " + data + b"\r\n\r\n", True))
            else:
                events.append(((b"[" if not events else b"\n,\r\n") + data, True))

        if plan.thinking and show_thoughts:
            for piece in plan.thinking_pieces:
                emit([{"text": piece, "thought": True}], None)
        finish = _FINISH[plan.finish]
        if plan.tool_calls:
            parts: list[dict[str, Any]] = [
                {"functionCall": {"name": c.name, "args": c.args}} for c in plan.tool_calls
            ]
            if pending_signature:
                parts[0]["thoughtSignature"] = pending_signature
            sent_chars = plan.tool_tokens * 4
            emit(parts, finish)
        else:
            last = len(plan.pieces) - 1
            for index, piece in enumerate(plan.pieces):
                part: dict[str, Any] = {"text": piece}
                if pending_signature:
                    part["thoughtSignature"] = pending_signature
                    pending_signature = None
                sent_chars += len(piece)
                done = index == last and finish != "SAFETY"
                emit([part], finish if done else None)
            if finish == "SAFETY" or not plan.pieces:
                emit(None if finish == "SAFETY" else [{"text": ""}], finish)
        if not sse:
            events.append((b"]", False))
        error = {"error": {"code": 500, "message": _MESSAGES[500], "status": "INTERNAL"}}
        tail = (
            b"data: " + orjson.dumps(error) + b"\r\n\r\n"
            if sse
            else b"\n,\r\n" + orjson.dumps(error) + b"]"
        )
        return group(events, d, [tail])

    # -- tokens, embeddings, models -------------------------------------------------------

    async def count_tokens(self, call: Call) -> None:
        body = await self._parse(call)
        if body is None:
            return
        if isinstance(body.get("generateContentRequest"), dict):
            body = body["generateContentRequest"]
        segments, last, _ = contents_prompt(body)
        d, _ = call.directives(last)
        if d is not NONE and await self.gate(call, d):
            return
        total = max(1, tokens(sum(chars for _, chars in segments)))
        out = {
            "totalTokens": total,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}],
        }
        await call.reply(200, orjson.dumps(out, option=INDENT), JSON)

    async def embed(self, call: Call) -> None:
        body = await self._parse(call)
        if body is None:
            return
        batch = call.op == "batchEmbedContents"
        requests = body.get("requests") if batch else [body]
        if not isinstance(requests, list) or not requests:
            await self.error(
                call, 400, "* BatchEmbedContentsRequest.requests: requests is required\n"
            )
            return
        texts = [
            _parts(
                _get(r, "content", "content").get("parts")
                if isinstance(r, dict) and isinstance(r.get("content"), dict)
                else None
            )[0]
            for r in requests
        ]
        d, _ = call.directives(texts[-1])
        if d is not NONE and await self.gate(call, d):
            return
        model = call.param.removeprefix("models/")
        vectors = []
        for request, text in zip(requests, texts, strict=True):
            dims = (
                _get(request, "outputDimensionality", "output_dimensionality")
                if isinstance(request, dict)
                else None
            )
            if not isinstance(dims, int) or dims <= 0:
                dims = 3072 if "gemini-embedding" in model else 768
            vectors.append({"values": list(embedding(text, dims))})
        out = {"embeddings": vectors} if batch else {"embedding": vectors[0]}
        await call.reply(200, orjson.dumps(out, option=INDENT), JSON)

    async def models(self, call: Call) -> None:
        out = {"models": [_model(m) for m in MODELS]}
        await call.reply(200, orjson.dumps(out, option=INDENT), JSON)

    async def model(self, call: Call) -> None:
        name = call.param.removeprefix("models/")
        known = {m[0]: m for m in MODELS}
        entry = known.get(name, (name, name, 1048576, 65536, _GENERATE))
        await call.reply(200, orjson.dumps(_model(entry), option=INDENT), JSON)


def _model(entry: tuple[str, str, int, int, list[str]]) -> dict[str, Any]:
    name, display, input_limit, output_limit, methods = entry
    return {
        "name": f"models/{name}",
        "version": "001",
        "displayName": display,
        "description": f"{display} (mock)",
        "inputTokenLimit": input_limit,
        "outputTokenLimit": output_limit,
        "supportedGenerationMethods": methods,
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxTemperature": 2,
        "thinking": "embed" not in name,
    }


def _usage(counts: tuple[int, int], plan: Plan, candidates: int) -> dict[str, Any]:
    prompt, cached = counts
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + plan.thinking_tokens,
    }
    if cached:
        usage["cachedContentTokenCount"] = cached
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    if cached:
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
    if plan.thinking_tokens:
        usage["thoughtsTokenCount"] = plan.thinking_tokens
    return usage
