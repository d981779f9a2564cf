"""Small pure helpers shared by the wire-format modules."""

from __future__ import annotations

import math
import random
import secrets
import string
from typing import Any

import orjson

from torouter.protocols import nesting
from torouter.protocols.internal import (
    ImagePart,
    Request,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
)

__all__ = [
    "EFFORT_BUDGET",
    "IMAGE_TOKENS",
    "JSON_TOOL",
    "args_object",
    "budget_for",
    "dumps",
    "effort_for",
    "estimate_request_tokens",
    "new_call_id",
    "parse_data_uri",
    "std_b64",
    "upstream_call_id",
]

JSON_TOOL = "json_response"  # the forced tool that carries JSON mode to Anthropic (R5.4)
IMAGE_TOKENS = 1600  # R7.9
# Reasoning effort ↔ thinking budget, where one side speaks effort and the other tokens.
EFFORT_BUDGET = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 8192, "xhigh": 16384}
_ALNUM = string.ascii_letters + string.digits


def dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def args_object(arguments: str) -> dict[str, Any]:
    """Tool arguments as an object for the wire formats that need one (Anthropic, Gemini).

    Raises `nesting.TooDeep` for arguments nested deeper than the gateway handles (E16 on a
    request, a malformed answer on a response)."""
    if not arguments.strip():
        return {}
    try:
        value = nesting.loads(arguments)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def new_call_id(rng: random.Random | None = None) -> str:
    """`call_` + 24 random characters, for Gemini calls that came without an id (R5.4)."""
    if rng is None:
        return "call_" + "".join(secrets.choice(_ALNUM) for _ in range(24))
    return "call_" + "".join(rng.choice(_ALNUM) for _ in range(24))


def upstream_call_id(raw: Any, rng: random.Random | None = None) -> str:
    """An upstream tool call's id, verbatim; a missing or empty one becomes a fresh unique id, so
    a client can match parallel results to their calls on every translated route (R5.4)."""
    return str(raw) if raw not in (None, "") else new_call_id(rng)


def parse_data_uri(url: str) -> tuple[str, str] | None:
    """`data:<media>;base64,<data>` → (media type, standard base64); None for other URLs."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    return head[: -len(";base64")] or "application/octet-stream", std_b64(data)


def std_b64(data: str) -> str:
    """URL-safe base64 (what google-genai sends) → standard, padded."""
    out = data.replace("-", "+").replace("_", "/").strip()
    return out + "=" * (-len(out) % 4)


def budget_for(effort: str | None, default: int = 8192) -> int:
    return EFFORT_BUDGET.get(effort or "", default)


def effort_for(budget: int | None, default: str = "high") -> str:
    if budget is None or budget < 0:
        return default
    if budget <= EFFORT_BUDGET["low"]:
        return "low"
    if budget <= EFFORT_BUDGET["medium"]:
        return "medium"
    return "high"


def estimate_request_tokens(req: Request) -> int:
    """The local estimate (R7.9, R10.7): ceil(text bytes / 4) + 1,600 per image."""
    size, images = 0, 0

    def text(s: str | None) -> None:
        nonlocal size
        if s:
            size += len(s.encode())

    for part in req.system:
        text(part.text)
    for msg in req.messages:
        for p in msg.parts:
            if isinstance(p, TextPart):
                text(p.text)
            elif isinstance(p, ImagePart):
                images += 1
            elif isinstance(p, ThinkingPart):
                text(p.text)
            elif isinstance(p, ToolCallPart):
                text(p.name)
                text(p.arguments)
            elif isinstance(p, ToolResultPart):
                for c in p.content:
                    if isinstance(c, TextPart):
                        text(c.text)
                    else:
                        images += 1
    for tool in req.tools:
        text(tool.name)
        text(tool.description)
        if tool.parameters:
            text(dumps(tool.parameters))
    return math.ceil(size / 4) + images * IMAGE_TOKENS
