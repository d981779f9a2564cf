"""Session affinity for upstream prompt-cache hits (SPEC R9.2, ToRouter extension).

A request with a session signal keeps the channel chosen for (key, model, session) while that
channel stays eligible and in the best priority tier left; otherwise selection runs as usual and
the memory moves. Bounded, with a TTL.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Affinity", "session_signal"]


def session_signal(
    front: str, payload: Mapping[str, Any], headers: Mapping[bytes, bytes]
) -> str | None:
    """Anthropic `metadata.user_id`, OpenAI `prompt_cache_key` or `user`, Gemini
    `cachedContent`, or the `x-session-id` header."""
    sid = headers.get(b"x-session-id")
    if sid:
        return "h:" + sid.decode("latin-1")
    if front == "anthropic":
        meta = payload.get("metadata")
        user_id = meta.get("user_id") if isinstance(meta, dict) else None
        if isinstance(user_id, str):
            return "a:" + user_id
    elif front == "gemini":
        cached = payload.get("cachedContent")
        if isinstance(cached, str):
            return "g:" + cached
    else:
        for field in ("prompt_cache_key", "user"):
            value = payload.get(field)
            if isinstance(value, str) and value:
                return f"o:{field}:{value}"
    return None


class Affinity:
    def __init__(
        self,
        ttl_s: float = 3600.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        on_move: Callable[[tuple[int, str, str], int], None] | None = None,
    ) -> None:
        self._ttl = ttl_s
        self._max = max_entries
        self._clock = clock
        self._map: OrderedDict[tuple[int, str, str], tuple[int, float]] = OrderedDict()
        # Called when a session's channel changes (to mirror it to other nodes).
        self.on_move = on_move

    def get(self, key: tuple[int, str, str]) -> int | None:
        hit = self._map.get(key)
        if hit is None:
            return None
        channel_id, expires = hit
        if expires <= self._clock():
            del self._map[key]
            return None
        return channel_id

    def put(self, key: tuple[int, str, str], channel_id: int, *, notify: bool = True) -> None:
        old = self._map.get(key)
        self._map[key] = (channel_id, self._clock() + self._ttl)
        if notify and self.on_move is not None and (old is None or old[0] != channel_id):
            self.on_move(key, channel_id)
        self._map.move_to_end(key)
        while len(self._map) > self._max:
            self._map.popitem(last=False)
