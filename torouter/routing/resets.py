"""How long a rate-limited upstream asks us to wait (SPEC R9.6). Pure.

Sources, first found wins: `retry-after-ms`, `Retry-After` (seconds or an HTTP date),
`anthropic-ratelimit-*-reset` (RFC 3339; the exhausted one, else the latest),
`x-ratelimit-reset-requests` / `-tokens` (durations such as `6m0s`, `1.5s`, `200ms`), and
Gemini's `RetryInfo.retryDelay` in the body. The result is clamped to 1 s – 1 h.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Mapping

import orjson

__all__ = ["parse_duration", "reset_after"]

MIN_S, MAX_S = 1.0, 3600.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(text: str) -> float | None:
    """`1h2m3s`, `6m0s`, `1.5s`, `200ms`, `30s` → seconds."""
    text = text.strip()
    if not text:
        return None
    total, pos = 0.0, 0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            return None
        value, unit = float(m.group(1)), m.group(2)
        total += {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit] * value
        pos = m.end()
    if pos != len(text):
        try:
            return float(text)
        except ValueError:
            return None
    return total


def _rfc3339(value: str, now: float) -> float | None:
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp() - now


def _clamp(seconds: float) -> float:
    return min(max(seconds, MIN_S), MAX_S)


def reset_after(headers: Mapping[str, str], body: bytes, now: float) -> float | None:
    """Seconds until the upstream's reset, clamped; None when it names none."""
    h = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in h:
        try:
            return _clamp(float(h["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    if "retry-after" in h:
        value = h["retry-after"].strip()
        try:
            return _clamp(float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value) if value else None
            if parsed is not None:
                return _clamp(parsed.timestamp() - now)
    resets: list[tuple[bool, float]] = []
    for name, value in h.items():
        if name.startswith("anthropic-ratelimit-") and name.endswith("-reset"):
            secs = _rfc3339(value, now)
            if secs is not None:
                remaining = h.get(name[: -len("-reset")] + "-remaining")
                resets.append((remaining == "0", secs))
    if resets:
        exhausted = [s for ex, s in resets if ex]
        return _clamp(max(exhausted) if exhausted else max(s for _, s in resets))
    durations = [
        parse_duration(h[name])
        for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")
        if name in h
    ]
    found = [d for d in durations if d is not None]
    if found:
        return _clamp(max(found))
    if b"retryDelay" in body:
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        details = (obj.get("error") or {}).get("details") if isinstance(obj, dict) else None
        for d in details or ():
            if isinstance(d, dict) and "retryDelay" in d:
                secs = parse_duration(str(d["retryDelay"]))
                if secs is not None:
                    return _clamp(secs)
    return None
