"""Directives that steer a mock answer: faults, timing, tools, replay. Pure functions only.

A directive is written in the last user text as ``[[mock:429]]`` or ``[[mock:ttft_ms=50,chunks=4]]``
(several may appear; later ones win), or in the ``x-mock`` request header with the same tokens and
no brackets (``x-mock: 429, retry_after=2``). Tokens:

=====================  ==========================================================================
``429`` ``500`` …      answer with that status (any 3-digit number), same as ``status=<code>``
``timeout``            never answer; the request ends when the client gives up
``slow_first_byte=ms`` wait before the status line
``disconnect_after=n`` send n stream events (or half a JSON body), then drop the connection
``error_after=n``      send n stream events, then the provider's in-stream error event, and end
``malformed``          invalid JSON body, or one broken stream event
``no_usage``           leave usage out
``content_filter``     the provider's filtered stop
``cache=n``            report n cached prompt tokens
``ttft_ms`` ``chunk_interval_ms`` ``chunks``   stream timing and number of content chunks
``tokens=n``           length of the answer in tokens
``repeat=n``           OpenAI chat streams: send the content chunks n times over (a stream of
                       any size from a small plan: the 100 MB relay of the benchmark, R20.2)
``tool`` ``tool=name`` ``tools=n``             call the first, the named, or n tools
``reasoning_content``  OpenAI chat: stream reasoning as ``delta.reasoning_content``
``retry_after=s``      reset announced by a 429
``replay=<case-id>``   answer with a recorded response (see ``replay.py``)
=====================  ==========================================================================

Unknown tokens are ignored, so a typo never turns into a fault.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

__all__ = ["MARKER", "NONE", "Directives", "merge", "parse_header", "parse_text", "parse_tokens"]

_DIRECTIVE = re.compile(r"\[\[mock:([^\]]*)\]\]")
MARKER = "[[mock:"


@dataclass(frozen=True, slots=True)
class Directives:
    status: int | None = None
    timeout: bool | None = None
    slow_first_byte_ms: int | None = None
    disconnect_after: int | None = None
    error_after: int | None = None
    malformed: bool | None = None
    no_usage: bool | None = None
    content_filter: bool | None = None
    cache: int | None = None
    ttft_ms: int | None = None
    chunk_interval_ms: int | None = None
    chunks: int | None = None
    tokens: int | None = None
    tool: str | None = None  # "" = the first tool
    tools: int | None = None
    reasoning_content: bool | None = None
    retry_after_s: float | None = None
    replay: str | None = None
    repeat: int | None = None

    def is_empty(self) -> bool:
        return self == NONE


NONE = Directives()

_INTS = {
    "status": "status",
    "slow_first_byte": "slow_first_byte_ms",
    "slow_first_byte_ms": "slow_first_byte_ms",
    "disconnect_after": "disconnect_after",
    "error_after": "error_after",
    "cache": "cache",
    "ttft_ms": "ttft_ms",
    "ttft": "ttft_ms",
    "chunk_interval_ms": "chunk_interval_ms",
    "chunk_interval": "chunk_interval_ms",
    "chunks": "chunks",
    "tokens": "tokens",
    "tools": "tools",
    "repeat": "repeat",
}
_FLAGS = {
    "timeout": "timeout",
    "malformed": "malformed",
    "no_usage": "no_usage",
    "content_filter": "content_filter",
    "reasoning_content": "reasoning_content",
}


def parse_tokens(spec: str) -> Directives:
    """Parse comma-separated tokens (the inside of ``[[mock:…]]`` or an ``x-mock`` value)."""
    values: dict[str, object] = {}
    for raw in spec.split(","):
        token = raw.strip()
        if not token:
            continue
        name, sep, value = token.partition("=")
        name = name.strip().lower()
        value = value.strip()
        if not sep:
            if name.isdigit() and len(name) == 3:
                values["status"] = int(name)
            elif name in _FLAGS:
                values[_FLAGS[name]] = True
            elif name == "tool":
                values["tool"] = ""
            continue
        if name in _INTS:
            if value.isdigit():
                number = int(value)
                if name == "chunks" and number == 0:
                    continue
                if name == "status" and not 100 <= number <= 599:
                    continue
                values[_INTS[name]] = number
        elif name == "tool":
            values["tool"] = value
        elif name == "retry_after":
            try:
                values["retry_after_s"] = max(0.0, float(value))
            except ValueError:
                continue
        elif name == "replay" and value:
            values["replay"] = value
        elif name in _FLAGS and value.lower() in ("1", "true", "yes", "on"):
            values[_FLAGS[name]] = True
    return Directives(**values) if values else NONE  # type: ignore[arg-type]  # keyed per field above


def merge(base: Directives, override: Directives) -> Directives:
    """Fields set in ``override`` win."""
    if override is NONE:
        return base
    if base is NONE:
        return override
    changes = {
        f.name: getattr(override, f.name)
        for f in dataclasses.fields(Directives)
        if getattr(override, f.name) is not None
    }
    return dataclasses.replace(base, **changes)


def parse_text(text: str) -> tuple[Directives, str]:
    """Directives found in ``text`` and the text without them (what the answer echoes)."""
    if MARKER not in text:
        return NONE, text
    found = NONE
    for match in _DIRECTIVE.finditer(text):
        found = merge(found, parse_tokens(match.group(1)))
    return found, " ".join(_DIRECTIVE.sub(" ", text).split())


def parse_header(values: list[str]) -> Directives:
    """Directives of one or several ``x-mock`` headers (brackets are tolerated)."""
    found = NONE
    for value in values:
        if MARKER in value:
            found = merge(found, parse_text(value)[0])
        else:
            found = merge(found, parse_tokens(value))
    return found
