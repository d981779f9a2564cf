"""Per-credential prompt cache: repeated prompt prefixes report cached tokens.

A prompt is a list of segments (tools, system, then one per message), each a hashable key and a
character count. Every prefix ending on a segment boundary is remembered per credential in one
bounded LRU; the longest remembered prefix of a new prompt is its cached part. So a conversation's
next turn, or the same request again, reads from the cache of the credential that served it before,
which is what routing affinity is meant to exploit.

Reads are reported on every protocol, for any repeated prefix (the real Anthropic API reads only
at ``cache_control`` breakpoints; the mock is lenient so affinity shows on every route). Writes are
reported only up to the last ``cache_control`` breakpoint, in the 5 m or 1 h bucket it asks for.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from torouter.mock.text import tokens

__all__ = ["PromptCache", "PromptUsage"]


@dataclass(slots=True)
class PromptUsage:
    prompt_tokens: int  # the whole prompt, cached part included
    cached_tokens: int  # read from the cache
    write_tokens: int = 0  # newly cached up to the last breakpoint (Anthropic cache_control)
    write_1h: bool = False  # the breakpoint asked for the 1 h cache


class PromptCache:
    def __init__(self, max_entries: int = 100_000) -> None:
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._max = max(1, max_entries)

    def measure(
        self,
        credential: str,
        segments: Sequence[tuple[Hashable, int]],
        *,
        breakpoint: int = -1,
        write_1h: bool = False,
        forced: int | None = None,
    ) -> PromptUsage:
        """Look up and remember the prefixes of ``segments`` for ``credential``.

        ``breakpoint`` is the index of the last segment marked for caching (Anthropic); the part of
        the prompt up to it that was not cached yet is reported as written. ``forced`` overrides
        the cached count (directive ``cache=<n>``).
        """
        seen = self._seen
        limit = self._max
        state = hash(credential)
        total = cached_chars = upto_break = 0
        index = -1
        for key, chars in segments:
            index += 1
            state = hash((state, key))
            total += chars
            if state in seen:
                seen.move_to_end(state)
                cached_chars = total
            else:
                seen[state] = None
                if len(seen) > limit:
                    seen.popitem(last=False)
            if index == breakpoint:
                upto_break = total
        prompt = max(1, tokens(total))
        if forced is not None:
            return PromptUsage(max(prompt, forced), forced)
        cached = min(tokens(cached_chars), prompt)
        write = max(0, tokens(upto_break) - cached) if breakpoint >= 0 else 0
        return PromptUsage(prompt, cached, min(write, prompt - cached), write_1h)

    def __len__(self) -> int:
        return len(self._seen)
