"""A memo keyed by object identity, for immutable records looked up on the hot path. A leaf.

A frozen dataclass of Decimals (`Prices`) hashes every field on each `lru_cache` lookup — about
a microsecond, several times per request — although the snapshot hands out the same object to
every request of a model. Identity costs one `id()` and one `is`. Each entry holds its key, so
an id cannot be reused by another object while its entry lives; the memo is cleared when full
(a snapshot reload makes new records, and the old entries are then dead weight).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["IdentityMemo"]

K = TypeVar("K")
V = TypeVar("V")


class IdentityMemo(Generic[K, V]):
    __slots__ = ("_entries", "_fn", "_maxsize")

    def __init__(self, fn: Callable[[K], V], maxsize: int = 4096) -> None:
        self._fn = fn
        self._maxsize = maxsize
        self._entries: dict[int, tuple[K, V]] = {}

    def __call__(self, key: K) -> V:
        hit = self._entries.get(id(key))
        if hit is not None and hit[0] is key:
            return hit[1]
        value = self._fn(key)
        if len(self._entries) >= self._maxsize:
            self._entries.clear()
        self._entries[id(key)] = (key, value)
        return value
