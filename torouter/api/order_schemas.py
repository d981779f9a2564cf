"""Bodies of the orders API (R14.9) and the pieces its routes share.

Orders are read with `order_read`, which shows `checkout_url` only while the order can still
be paid, and `refundable_nusd` when the caller computed it (a paid or refund-requested
top-up). Stripe's own ids are for admins only.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from fastapi import Depends
from pydantic import Field, StringConstraints

from torouter.api.deps import Deps
from torouter.api.fields import Id
from torouter.api.schemas import (
    ApiModel,
    ErrorEnvelope,
    InputModel,
    Responses,
    Timestamp,
    Usd,
    UsdAmount,
)
from torouter.billing.payments.config import PaymentsConfig
from torouter.billing.payments.service import Payments
from torouter.errors import error
from torouter.records import Row

__all__ = [
    "ORDER_ERRORS",
    "AdminOrderRead",
    "OrderCreate",
    "OrderRead",
    "PaymentsDep",
    "admin_order_read",
    "get_payments",
    "order_read",
    "topup_limits",
]

OrderStatus = Literal[
    "pending",
    "paid",
    "failed",
    "cancelled",
    "expired",
    "refund_requested",
    "refunded",
    "refund_rejected",
]
ORDER_STATUSES: tuple[str, ...] = get_args(OrderStatus)
Text500 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


# The error statuses of the routes that may talk to Stripe.
ORDER_ERRORS: Responses = {
    404: {"model": ErrorEnvelope},
    409: {"model": ErrorEnvelope},
    502: {"model": ErrorEnvelope, "description": "Stripe failed (`upstream_unavailable`)"},
    503: {"model": ErrorEnvelope, "description": "Payments are off (`PAYMENTS_NOT_CONFIGURED`)"},
}


def topup_limits(cfg: PaymentsConfig) -> dict[str, Any]:
    """The purchase page's presets and limits, as USD strings of 2 decimals."""

    def usd(value: Decimal) -> str:
        return f"{value:.2f}"

    return {
        "topup_presets_usd": [usd(v) for v in cfg.topup_presets_usd],
        "topup_min_usd": usd(cfg.topup_min_usd),
        "topup_max_usd": usd(cfg.topup_max_usd),
    }


def get_payments(deps: Deps) -> Payments:
    if deps.payments is None:
        raise error("PAYMENTS_NOT_CONFIGURED")
    payments: Payments = deps.payments
    return payments


PaymentsDep = Annotated[Payments, Depends(get_payments)]


class OrderCreate(InputModel):
    """`{"kind": "topup", "amount_usd": "20.00"}` or `{"kind": "subscription", "plan_id": 3,
    "method": "stripe" | "balance"}`."""

    kind: Literal["topup", "subscription"]
    amount_usd: UsdAmount | None = Field(
        None, description="Top-ups: 2 decimals at most, within the instance's limits"
    )
    plan_id: Id | None = Field(None, description="Subscriptions: the plan to buy")
    method: Literal["stripe", "balance"] = Field(
        "stripe", description="Subscriptions may be paid from the balance; top-ups use Stripe"
    )


class RefundRequest(InputModel):
    reason: Text500


class RefundApproval(InputModel):
    amount_usd: UsdAmount | None = Field(
        None, description="At most the refundable amount, in whole cents; default: all of it"
    )
    note: Text500 | None = None


class RefundRejection(InputModel):
    note: Text500


class CheckoutUrl(ApiModel):
    checkout_url: str


class OrderRead(ApiModel):
    id: str
    kind: str = Field(description="topup | subscription")
    status: str = Field(description=" | ".join(ORDER_STATUSES))
    method: str = Field(description="stripe | balance")
    amount_nusd: int
    amount_usd: Usd
    currency: str
    plan_id: int | None
    subscription_id: int | None
    checkout_url: str | None = Field(description="While the order can be paid (pending)")
    expires_at: Timestamp | None = Field(description="When the checkout stops accepting payment")
    receipt_url: str | None
    note: str | None
    refund_reason: str | None
    refund_amount_nusd: int | None
    refund_amount_usd: Usd | None
    refund_note: str | None
    refund_error: str | None = Field(description="Why the last refund attempt failed")
    refund_requested_at: Timestamp | None
    refunded_at: Timestamp | None
    refundable_nusd: int | None = Field(
        None, description="What of this top-up can still be refunded (spent money cannot)"
    )
    refundable_usd: Usd | None = None
    created_at: Timestamp
    paid_at: Timestamp | None
    updated_at: Timestamp | None


class AdminOrderRead(OrderRead):
    user_id: int
    user_email: str | None = None
    stripe_session_id: str | None
    stripe_payment_intent: str | None
    stripe_refund_id: str | None
    refund_attempts: int


def _fields(row: Row, now: dt.datetime, refundable: int | None) -> dict[str, Any]:
    open_ = (
        row["status"] == "pending"
        and row["session_expires_at"] is not None
        and row["session_expires_at"] > now
    )
    return {
        **row,
        "checkout_url": row["stripe_session_url"] if open_ else None,
        "expires_at": row["session_expires_at"],
        "refundable_nusd": refundable,
    }


def order_read(row: Row, now: dt.datetime, refundable: int | None = None) -> OrderRead:
    return OrderRead.model_validate(_fields(row, now, refundable))


def admin_order_read(row: Row, now: dt.datetime, refundable: int | None = None) -> AdminOrderRead:
    return AdminOrderRead.model_validate(_fields(row, now, refundable))
