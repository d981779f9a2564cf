"""Gemini `generateContent` on the wire ⇄ the internal shape (SPEC R3.5, R5.4–R5.7). Pure.

The model is in the URL, so bodies carry none. Both camelCase and snake_case field names are
read (the REST API accepts both; google-genai sends camelCase, curl examples snake_case).
Signatures (R5.6): a part's `thoughtSignature` becomes the signature of the thinking part before
it; rendering puts a thinking signature back on the function call that follows it, and the first
function call of a turn without one gets `skip_thought_signature_validator`. Calls without an id
get `call_` + 24 random characters; function responses without one are paired by name.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from torouter.errors import GatewayError, error
from torouter.protocols import nesting, shapes
from torouter.protocols.common import args_object, dumps, new_call_id, std_b64, upstream_call_id
from torouter.protocols.gemini_stream import (
    STOP_REASONS,
    STOP_REASONS_IN,
    StreamDecoder,
    StreamEncoder,
    finish_reason_out,
    in_stream_error,
    stop_reason_of,
    usage_from,
    usage_json,
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
    ToolMode,
    ToolResultPart,
)
from torouter.protocols.shapes import Shape

__all__ = [
    "SKIP_SIGNATURE",
    "STOP_REASONS",
    "STOP_REASONS_IN",
    "StreamDecoder",
    "StreamEncoder",
    "in_stream_error",
    "model_parts",
    "parse_request",
    "parse_response",
    "render_request",
    "render_response",
    "untranslatable",
    "usage_from",
    "usage_json",
]

SKIP_SIGNATURE = "skip_thought_signature_validator"
_MODES: dict[str, ToolMode] = {
    "AUTO": "auto",
    "NONE": "none",
    "ANY": "required",
    "VALIDATED": "auto",
}


def _invalid(message: str, param: str) -> GatewayError:
    return error("E16", message, param=param)


def _g(d: Any, camel: str) -> Any:
    """`d[camel]`, or its snake_case spelling."""
    if not isinstance(d, dict):
        return None
    if camel in d:
        return d[camel]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return d.get(snake)


def _schema(s: Any) -> Any:
    """Gemini's OpenAPI-style `parameters` schema → JSON Schema (lower-case types)."""
    if isinstance(s, list):
        return [_schema(v) for v in s]
    if not isinstance(s, dict):
        return s
    out: dict[str, Any] = {}
    for k, v in s.items():
        if k in ("propertyOrdering", "property_ordering", "nullable"):
            continue
        if k == "type" and isinstance(v, str):
            out[k] = v.lower()
        elif k in ("properties", "$defs", "definitions") and isinstance(v, dict):
            out[k] = {name: _schema(sub) for name, sub in v.items()}
        elif k in ("items", "anyOf", "any_of", "oneOf", "allOf", "not"):
            out["anyOf" if k == "any_of" else k] = _schema(v)
        else:
            out[k] = v
    return out


# ── parts (shared by requests and responses) ────────────────────────────────────────────────


def _signature(parts: list[Part], sig: str) -> None:
    """A part's signature onto the unsigned thinking part just before it, else a new one."""
    if parts and isinstance(parts[-1], ThinkingPart) and parts[-1].signature is None:
        parts[-1].signature = sig
    else:
        parts.append(ThinkingPart("", sig))


def model_parts(raw: Any, rng: random.Random | None = None) -> list[Part]:
    """A `model` content's parts → internal assistant parts."""
    parts: list[Part] = []
    for p in raw or ():
        if not isinstance(p, dict):
            continue
        sig = _g(p, "thoughtSignature")
        fc = _g(p, "functionCall")
        text = p.get("text")
        if p.get("thought") is True and isinstance(text, str):
            parts.append(ThinkingPart(text, sig or None))
            continue
        if sig:
            _signature(parts, str(sig))
        if isinstance(fc, dict) and fc.get("name"):
            call_id = upstream_call_id(fc.get("id"), rng)
            parts.append(ToolCallPart(call_id, str(fc["name"]), dumps(fc.get("args") or {})))
        elif isinstance(text, str) and text:
            parts.append(TextPart(text))
    return parts


def _media(p: dict[str, Any]) -> ImagePart | None:
    inline = _g(p, "inlineData")
    if isinstance(inline, dict):
        return ImagePart(
            data=std_b64(str(inline.get("data") or "")), media_type=_g(inline, "mimeType")
        )
    file = _g(p, "fileData")
    if isinstance(file, dict):
        return ImagePart(url=str(_g(file, "fileUri") or ""), media_type=_g(file, "mimeType"))
    return None


def _result(resp: Any) -> tuple[list[TextPart | ImagePart], bool]:
    """A functionResponse `response` → text content (`{"result": s}` unwrapped), is_error."""
    if isinstance(resp, dict) and len(resp) == 1:
        for key in ("result", "output", "error"):
            if key in resp:
                v = resp[key]
                return [TextPart(v if isinstance(v, str) else dumps(v))], key == "error"
    return [TextPart(dumps(resp if resp is not None else {}))], False


# ── request: wire → internal ────────────────────────────────────────────────────────────────


def _contents(body: dict[str, Any], req: Request, rng: random.Random | None) -> None:
    contents = body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        raise _invalid("contents must be a non-empty list", "contents")
    pending: list[ToolCallPart] = []  # calls of the last model turn, answered by name
    for i, c in enumerate(contents):
        if not isinstance(c, dict):
            raise _invalid("contents must be objects", f"contents[{i}]")
        raw = c.get("parts")
        if not isinstance(raw, list):
            raise _invalid("parts must be a list", f"contents[{i}].parts")
        if c.get("role") == "model":
            parts = model_parts(raw, rng)
            pending = [p for p in parts if isinstance(p, ToolCallPart)]
            req.messages.append(Message("assistant", parts))
            continue
        results: list[Part] = []
        user: list[Part] = []
        for p in raw:
            if not isinstance(p, dict):
                continue
            fr = _g(p, "functionResponse")
            media = _media(p)
            if isinstance(fr, dict):
                name = str(fr.get("name") or "")
                call_id = str(fr.get("id") or "")
                match = next(
                    (x for x in pending if (x.id == call_id if call_id else x.name == name)), None
                )
                if match is not None:
                    pending.remove(match)
                    call_id = match.id
                content, is_error = _result(fr.get("response"))
                results.append(ToolResultPart(call_id or new_call_id(rng), name, content, is_error))
            elif isinstance(p.get("text"), str):
                user.append(TextPart(p["text"]))
            elif media is not None:
                user.append(media)
            else:
                req.drop(next(iter(p), "part"))
        if results:
            req.messages.append(Message("tool", results))
        if user:
            req.messages.append(Message("user", user))


def _tools(body: dict[str, Any], req: Request) -> None:
    for t in body.get("tools") or ():
        decls = _g(t, "functionDeclarations")
        if not isinstance(decls, list):
            req.drop(next(iter(t), "tools") if isinstance(t, dict) else "tools")
            continue
        for d in decls:
            schema = _g(d, "parametersJsonSchema")
            if schema is None:
                schema = _schema(d.get("parameters") or {})
            req.tools.append(
                Tool(str(d.get("name") or ""), d.get("description") or None, schema or {})
            )
    fcc = _g(_g(body, "toolConfig"), "functionCallingConfig")
    if isinstance(fcc, dict) and fcc.get("mode"):
        mode = _MODES.get(str(fcc["mode"]).upper(), "auto")
        names = _g(fcc, "allowedFunctionNames") or []
        if mode == "required" and len(names) == 1:
            req.tool_choice = ToolChoice("tool", str(names[0]))
        else:
            if len(names) > 1:
                req.drop("allowedFunctionNames")
            req.tool_choice = ToolChoice(mode)


def untranslatable(body: dict[str, Any]) -> tuple[str, str] | None:
    """(param, message) of the first field only a native exchange can honour (R5.7): several
    candidates, or audio output. None when the body translates."""
    cfg = _g(body, "generationConfig")
    if not isinstance(cfg, dict):
        return None
    count = _g(cfg, "candidateCount")
    if isinstance(count, int) and not isinstance(count, bool) and count > 1:
        return (
            "generationConfig.candidateCount",
            "candidateCount > 1 is not supported on this model",
        )
    modalities = _g(cfg, "responseModalities") or []
    if "AUDIO" in [str(m).upper() for m in modalities] or _g(cfg, "speechConfig"):
        return "generationConfig.responseModalities", "audio output is not supported on this model"
    return None


def _generation(cfg: Any, req: Request) -> None:
    if not isinstance(cfg, dict):
        return
    for key, attr in (
        ("temperature", "temperature"),
        ("topP", "top_p"),
        ("presencePenalty", "presence_penalty"),
        ("frequencyPenalty", "frequency_penalty"),
    ):
        v = _g(cfg, key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            setattr(req, attr, float(v))
    for key, attr in (("topK", "top_k"), ("maxOutputTokens", "max_tokens"), ("seed", "seed")):
        v = _g(cfg, key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            setattr(req, attr, int(v))
    stops = _g(cfg, "stopSequences")
    if isinstance(stops, list):
        req.stop = [str(s) for s in stops]
    if _g(cfg, "responseMimeType") == "application/json":
        schema = _g(cfg, "responseJsonSchema")
        if schema is None and _g(cfg, "responseSchema") is not None:
            schema = _schema(_g(cfg, "responseSchema"))
        req.response_format = (
            ResponseFormat("json_schema", schema) if schema else ResponseFormat("json_object")
        )
    if _g(cfg, "responseLogprobs") or _g(cfg, "logprobs"):
        req.drop("logprobs")
    thinking = _g(cfg, "thinkingConfig")
    if isinstance(thinking, dict):
        budget = _g(thinking, "thinkingBudget")
        level = _g(thinking, "thinkingLevel")
        on = budget != 0 and (
            _g(thinking, "includeThoughts") is not False or bool(budget) or bool(level)
        )
        req.reasoning = Reasoning(
            on,
            budget if isinstance(budget, int) and budget > 0 else None,
            str(level).lower() if level else None,
        )


def parse_request(
    body: dict[str, Any], *, model: str = "", stream: bool = False, rng: random.Random | None = None
) -> Request:
    """A client's generateContent body → the internal request (`model` from the URL)."""
    req = Request(model or str(body.get("model") or ""), stream=stream, include_usage=True)
    system = _g(body, "systemInstruction")
    if isinstance(system, str):
        req.system.append(TextPart(system))
    elif isinstance(system, dict):
        for p in system.get("parts") or ():
            if isinstance(p, dict) and isinstance(p.get("text"), str):
                req.system.append(TextPart(p["text"]))
    _contents(body, req, rng)
    _tools(body, req)
    refused = untranslatable(body)
    if refused is not None:
        raise _invalid(refused[1], refused[0])
    _generation(_g(body, "generationConfig"), req)
    for key in ("safetySettings", "cachedContent", "labels"):
        if _g(body, key):
            req.drop(key)
    return req


# ── request: internal → wire ────────────────────────────────────────────────────────────────


def _media_part(p: ImagePart) -> dict[str, Any]:
    if p.url:
        return {"fileData": {"mimeType": p.media_type or "image/jpeg", "fileUri": p.url}}
    return {"inlineData": {"mimeType": p.media_type or "image/png", "data": p.data or ""}}


def _response_object(p: ToolResultPart) -> dict[str, Any]:
    text = p.text
    try:
        value: Any = nesting.loads(text)
    except (orjson.JSONDecodeError, nesting.TooDeep):
        value = text  # not JSON, or nested too deep to carry as an object: the text itself
    if p.is_error:
        return {"error": value}
    return value if isinstance(value, dict) else {"result": value}


def _assistant_parts(msg: Message) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    sig: str | None = None
    first_call = True
    for p in msg.parts:
        if isinstance(p, ThinkingPart):
            if p.redacted:
                continue
            if p.text:
                out.append({"text": p.text, "thought": True})
            if p.signature:
                sig = p.signature
        elif isinstance(p, TextPart):
            if p.text or sig:
                out.append({"text": p.text} | ({"thoughtSignature": sig} if sig else {}))
                sig = None
        elif isinstance(p, ToolCallPart):
            part: dict[str, Any] = {
                "functionCall": {"name": p.name, "args": args_object(p.arguments)}
            }
            if sig or first_call:
                part["thoughtSignature"] = sig or SKIP_SIGNATURE
            sig, first_call = None, False
            out.append(part)
    if sig:
        out.append({"text": "", "thoughtSignature": sig})
    return out


def _contents_out(req: Request) -> list[dict[str, Any]]:
    names = {p.id: p.name for m in req.messages for p in m.parts if isinstance(p, ToolCallPart)}
    out: list[dict[str, Any]] = []
    for msg in req.messages:
        if msg.role == "assistant":
            role, parts = "model", _assistant_parts(msg)
        elif msg.role == "tool":
            role, parts = "user", []
            for p in msg.parts:
                if isinstance(p, ToolResultPart):
                    if any(isinstance(c, ImagePart) for c in p.content):
                        req.drop("tool_result_images")
                    name = p.name or names.get(p.tool_call_id, "")
                    parts.append(
                        {"functionResponse": {"name": name, "response": _response_object(p)}}
                    )
        else:
            role, parts = "user", []
            for p in msg.parts:
                if isinstance(p, TextPart) and p.text:
                    parts.append({"text": p.text})
                elif isinstance(p, ImagePart):
                    parts.append(_media_part(p))
        if not parts:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["parts"].extend(parts)
        else:
            out.append({"role": role, "parts": parts})
    return out


def render_request(
    req: Request, *, upstream_model: str = "", supports_reasoning: bool = True
) -> dict[str, Any]:
    """The internal request → an upstream generateContent body (the model goes in the URL).

    A model without `supports_thinking` gets no `thinkingConfig` (named as dropped)."""
    body: dict[str, Any] = {"contents": _contents_out(req)}
    if req.system:
        body["systemInstruction"] = {"parts": [{"text": p.text} for p in req.system]}
    if req.tools:
        decls = []
        for t in req.tools:
            d: dict[str, Any] = {"name": t.name}
            if t.description:
                d["description"] = t.description
            if t.parameters:
                d["parametersJsonSchema"] = t.parameters
            decls.append(d)
        body["tools"] = [{"functionDeclarations": decls}]
    tc = req.tool_choice
    if tc is not None and req.tools:
        fcc: dict[str, Any] = {"mode": {"auto": "AUTO", "none": "NONE"}.get(tc.mode, "ANY")}
        if tc.mode == "tool":
            fcc["allowedFunctionNames"] = [tc.name]
        body["toolConfig"] = {"functionCallingConfig": fcc}
    cfg: dict[str, Any] = {}
    for key, value in (
        ("temperature", req.temperature),
        ("topP", req.top_p),
        ("topK", req.top_k),
        ("maxOutputTokens", req.max_tokens),
        ("presencePenalty", req.presence_penalty),
        ("frequencyPenalty", req.frequency_penalty),
        ("seed", req.seed),
    ):
        if value is not None:
            cfg[key] = value
    if req.stop:
        cfg["stopSequences"] = req.stop
    rf = req.response_format
    if rf is not None and rf.type != "text":
        cfg["responseMimeType"] = "application/json"
        if rf.type == "json_schema" and rf.schema:
            cfg["responseJsonSchema"] = rf.schema
    r = req.reasoning
    if r is not None and not supports_reasoning:
        if r.enabled:
            req.drop("reasoning")
        r = None
    if r is not None:
        # Dynamic (-1) unless a budget was given: an effort level has no 2.5-safe equivalent.
        cfg["thinkingConfig"] = (
            {"includeThoughts": True, "thinkingBudget": r.budget_tokens or -1}
            if r.enabled
            else {"includeThoughts": False}
        )
    if cfg:
        body["generationConfig"] = cfg
    if req.parallel_tool_calls is not None:
        req.drop("parallel_tool_calls")
    has_cache = (
        any(p.cache_control for p in req.system)
        or any(getattr(p, "cache_control", None) for m in req.messages for p in m.parts)
        or any(t.cache_control for t in req.tools)
    )
    if has_cache:
        req.drop("cache_control")
    if req.user:
        req.drop("user")
    if req.prompt_cache_key:
        req.drop("prompt_cache_key")
    return body


# ── response ────────────────────────────────────────────────────────────────────────────────


# What `parse_response` reads, with the types it reads them as (R9.4: anything else is a broken
# upstream, failed over).
RESPONSE_SHAPE: dict[str, Shape] = {
    "candidates": [{"content": {"parts": list}}],
    "promptFeedback": dict,
    "usageMetadata": dict,
}


def parse_response(body: dict[str, Any], *, rng: random.Random | None = None) -> Response:
    """An upstream GenerateContentResponse → the internal response."""
    shapes.answer(body, RESPONSE_SHAPE)  # the body is JSON as the upstream sent it
    candidates = body.get("candidates") or ()
    cand = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
    parts = model_parts((cand.get("content") or {}).get("parts"), rng)
    raw = cand.get("finishReason")
    stop = stop_reason_of(raw, any(isinstance(p, ToolCallPart) for p in parts))
    blocked = (body.get("promptFeedback") or {}).get("blockReason")
    if blocked and not candidates:
        stop, raw = "filtered", blocked
    return Response(
        id=str(body.get("responseId") or ""),
        model=str(body.get("modelVersion") or ""),
        parts=parts,
        stop_reason=stop,
        stop_raw=raw,
        usage=usage_from(body.get("usageMetadata")),
    )


def render_response(resp: Response, *, model: str) -> dict[str, Any]:
    """The internal response → a client's GenerateContentResponse."""
    parts: list[dict[str, Any]] = []
    sig: str | None = None
    for p in resp.parts:
        if isinstance(p, ThinkingPart):
            if p.redacted:
                continue
            if p.text:
                parts.append({"text": p.text, "thought": True})
            sig = p.signature or sig
        elif isinstance(p, TextPart):
            parts.append({"text": p.text} | ({"thoughtSignature": sig} if sig else {}))
            sig = None
        elif isinstance(p, ToolCallPart):
            call = {"id": p.id, "name": p.name, "args": args_object(p.arguments)}
            parts.append({"functionCall": call} | ({"thoughtSignature": sig} if sig else {}))
            sig = None
    if sig:
        parts.append({"text": "", "thoughtSignature": sig})
    candidate = {
        "content": {"parts": parts, "role": "model"},
        "finishReason": finish_reason_out(resp.stop_reason, resp.stop_raw),
        "index": 0,
    }
    return {
        "candidates": [candidate],
        "usageMetadata": usage_json(resp.usage),
        "modelVersion": model,
        "responseId": resp.id,
    }
