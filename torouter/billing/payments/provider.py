"""The payment provider seam: what the payment code needs from Stripe, in its own types.

`stripe_api.py` implements it with the official SDK and is the only module that imports
`stripe`; everything else sees these frozen records and two errors:

    ProviderError          the provider refused or could not be reached
     └── SignatureError    a webhook whose signature or timestamp does not verify

Amounts are in the currency's minor unit (cents), as the provider counts them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "CheckoutRequest",
    "CheckoutSession",
    "PaymentProvider",
    "ProviderError",
    "ProviderEvent",
    "ProviderRefund",
    "SignatureError",
]


class ProviderError(Exception):
    """`retryable`: a network failure, timeout, 5xx or rate limit — the call may or may not
    have happened, and trying again is right. Otherwise the provider refused it (`code`)."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.retryable = retryable


class SignatureError(ProviderError):
    """The webhook is not from the provider (bad signature, stale timestamp, bad payload)."""


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    order_id: str
    user_id: int
    kind: str
    amount_minor: int
    currency: str
    product_name: str
    success_url: str
    cancel_url: str
    expires_at: int  # unix seconds
    customer_email: str | None = None


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    id: str
    status: str  # open | complete | expired
    payment_status: str  # paid | unpaid | no_payment_required
    amount_total: int | None
    currency: str | None
    client_reference_id: str | None
    metadata: Mapping[str, str] = field(default_factory=dict)
    url: str | None = None
    payment_intent: str | None = None
    expires_at: int | None = None
    created: int = 0
    receipt_url: str | None = None

    @property
    def paid(self) -> bool:
        return self.status == "complete" and self.payment_status == "paid"


@dataclass(frozen=True, slots=True)
class ProviderRefund:
    id: str
    status: str  # pending | requires_action | succeeded | failed | canceled
    amount: int
    currency: str
    payment_intent: str | None
    metadata: Mapping[str, str] = field(default_factory=dict)
    created: int = 0
    failure_reason: str | None = None

    @property
    def live(self) -> bool:
        """Money is going (or went) back: it counts as refunded."""
        return self.status in ("pending", "requires_action", "succeeded")


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    id: str
    type: str
    created: int
    session: CheckoutSession | None = None  # when the event is about a Checkout Session
    refund: ProviderRefund | None = None  # when it is about a Refund


class PaymentProvider(Protocol):
    async def create_session(self, req: CheckoutRequest) -> CheckoutSession: ...

    async def retrieve_session(
        self, session_id: str, *, with_receipt: bool = False
    ) -> CheckoutSession: ...

    async def expire_session(self, session_id: str) -> CheckoutSession: ...

    async def list_sessions(
        self, *, created_gte: int, created_lt: int
    ) -> list[CheckoutSession]: ...

    async def create_refund(
        self,
        *,
        payment_intent: str,
        amount_minor: int,
        order_id: str,
        idempotency_key: str,
    ) -> ProviderRefund: ...

    async def list_refunds(
        self,
        *,
        payment_intent: str | None = None,
        created_gte: int | None = None,
        created_lt: int | None = None,
    ) -> list[ProviderRefund]: ...

    def parse_webhook(self, payload: bytes, signature: str | None) -> ProviderEvent: ...

    async def aclose(self) -> None: ...
