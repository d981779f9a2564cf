"""`/api/payments`: Stripe's webhook (R14.3) and what the purchase page offers (R14.2).

The webhook has no session and no CSRF: it is authenticated by its `Stripe-Signature` alone
(verified by the official SDK over the raw body, 300 s tolerance; failure → 400). Any
verified event is answered 200 once handled — including events that credit nothing (a
duplicate, a mismatch, a type we do not use) — so Stripe stops retrying it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from torouter.api.deps import Deps
from torouter.api.order_schemas import get_payments, topup_limits
from torouter.api.schemas import ErrorEnvelope

__all__ = ["router"]

router = APIRouter(prefix="/api/payments", tags=["payments"])


class WebhookAnswer(BaseModel):
    received: bool = True
    outcome: str = Field(
        description="credited | already | duplicate | mismatch | unknown_order | pending | "
        "expired | failed | refund_failed | ignored"
    )


class PaymentOptions(BaseModel):
    configured: bool = Field(
        description="False: the purchase page says payments are not configured on this instance"
    )
    currency: str = "usd"
    topup_presets_usd: list[str]
    topup_min_usd: str
    topup_max_usd: str


@router.post(
    "/stripe/webhook",
    response_model=WebhookAnswer,
    responses={400: {"model": ErrorEnvelope}, 503: {"model": ErrorEnvelope}},
    summary="Stripe webhook endpoint",
    description="Send Checkout Session events (`checkout.session.completed`, "
    "`checkout.session.async_payment_succeeded`, `checkout.session.async_payment_failed`, "
    "`checkout.session.expired`) and `refund.failed` here.",
)
async def stripe_webhook(request: Request, deps: Deps) -> WebhookAnswer:
    payments = get_payments(deps)
    payload = await request.body()
    outcome = await payments.handle_webhook(payload, request.headers.get("stripe-signature"))
    return WebhookAnswer(outcome=outcome.result)


@router.get(
    "/options",
    response_model=PaymentOptions,
    summary="What can be bought",
    description="Top-up presets and limits, and whether payments are on. No sign-in needed.",
)
async def options(deps: Deps) -> PaymentOptions:
    if deps.payments is None:
        return PaymentOptions(
            configured=False, topup_presets_usd=[], topup_min_usd="0.00", topup_max_usd="0.00"
        )
    cfg = await deps.payments.config()
    return PaymentOptions(configured=cfg.configured, **topup_limits(cfg))
