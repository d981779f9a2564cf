"""Classification of an upstream attempt before the first byte (SPEC R9.4). Pure."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Outcome", "classify_status"]


class Outcome(StrEnum):
    SUCCESS = "success"
    NETWORK = "network"
    TIMEOUT = "timeout"
    SERVER = "server"
    RATE_LIMITED = "rate_limited"
    AUTH = "auth_billing"
    TERMINAL = "terminal"

    @property
    def fails_over(self) -> bool:
        return self not in (Outcome.SUCCESS, Outcome.TERMINAL)


BILLING_PATTERNS = (
    "credit balance is too low",
    "insufficient_quota",
    "exceeded your current quota",
    "account has been disabled",
    "api key not valid",
)


def has_billing_pattern(body: bytes) -> bool:
    text = body[:65536].decode("utf-8", "replace").lower()
    return any(p in text for p in BILLING_PATTERNS)


def classify_status(status: int, body: bytes = b"") -> Outcome:
    if 200 <= status < 300:
        return Outcome.SUCCESS
    if status == 429:
        # A 429 is rate limited unless its code says the account is out of credit.
        return Outcome.AUTH if b"insufficient_quota" in body else Outcome.RATE_LIMITED
    if status == 408:
        return Outcome.TIMEOUT
    if status >= 500:
        return Outcome.SERVER
    if status in (401, 402, 403):
        return Outcome.AUTH
    if status == 400 and has_billing_pattern(body):
        return Outcome.AUTH
    return Outcome.TERMINAL
