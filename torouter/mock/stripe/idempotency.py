"""Idempotency keys as Stripe keeps them.

A POST with `Idempotency-Key` stores its result under (API key, idempotency key) for 24 hours;
the same key again replays that result (status and body, with `Idempotent-Replayed: true`)
without running anything. The same key with other parameters, or on another path, is refused
with an `idempotency_error` (400). Results of requests refused while validating parameters are
not stored, so a corrected retry with the same key runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["IdempotencyCache", "Stored"]

TTL_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class Stored:
    fingerprint: tuple[str, str, str]  # method, path, canonical parameters
    status: int
    body: Any
    request_id: str
    at: float


def fingerprint(method: str, path: str, params: Any) -> tuple[str, str, str]:
    return (method, path, repr(_canonical(params)))


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _canonical(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_canonical(v) for v in value)
    return value


class IdempotencyCache:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._stored: dict[tuple[str, str], Stored] = {}

    def get(self, account: str, key: str) -> Stored | None:
        found = self._stored.get((account, key))
        if found is not None and self._clock() - found.at > TTL_S:
            del self._stored[(account, key)]
            return None
        return found

    def put(self, account: str, key: str, stored: Stored) -> None:
        self._stored[(account, key)] = stored

    def mismatch_message(self, key: str) -> str:
        return (
            "Keys for idempotent requests can only be used with the same parameters they were "
            f"first used with. Try using a key other than '{key}' if you meant to execute a "
            "different request."
        )
