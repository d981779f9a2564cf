"""`/api/admin/payments/reconcile` (R14.10) and `/api/admin/settings/payments` (R14.8).

Reconciliation lists every mismatch between orders, the ledger and Stripe for a period; each
one's `id` is repaired by `POST /api/admin/payments/reconcile/repair`, through the same
exactly-once paths as the webhook.

Payment settings: the Stripe secrets are write-only (the answer says whether each is set);
a field set in the config file or environment is listed in `read_only` and refused here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, StringConstraints, ValidationError

from torouter.api.audit import record_audit
from torouter.api.auth import Admin
from torouter.api.deps import Deps
from torouter.api.errors import field_path
from torouter.api.order_schemas import PaymentsDep, topup_limits
from torouter.api.schemas import ApiModel, ErrorEnvelope, InputModel, Timestamp, Usd
from torouter.billing.payments import upkeep
from torouter.billing.payments.config import PaymentsConfig, ReadOnlySetting
from torouter.errors import error

__all__ = ["router"]

router = APIRouter(tags=["payments"])
_MAX_SPAN = dt.timedelta(days=93)


class MismatchRead(ApiModel):
    id: str = Field(description="`<kind>:<order id>`: what to pass to the repair")
    kind: str = Field(
        description="paid_not_credited | credited_not_paid | credited_twice | "
        "refunded_not_debited | debited_not_refunded | paid_unknown_order"
    )
    order_id: str | None
    user_id: int | None
    amount_nusd: int
    amount_usd: Usd
    stripe_id: str | None = Field(description="The Checkout Session or Refund at Stripe")
    detail: str
    repairable: bool


class ReconcileReport(BaseModel):
    from_: Timestamp = Field(alias="from", serialization_alias="from")
    to: Timestamp
    sessions_checked: int
    orders_checked: int
    data: list[MismatchRead]


class RepairRequest(InputModel):
    id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200)]


class RepairRead(ApiModel):
    id: str
    repaired: bool
    detail: str
    balance_change_nusd: int
    balance_change_usd: Usd


def _when(value: str | None, param: str, default: dt.datetime) -> dt.datetime:
    if value is None:
        return default
    try:
        if len(value) == 10:
            return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise error("E16", f"{param}: must be a date or an RFC 3339 time", param=param) from None
    if parsed.tzinfo is None:
        raise error("E16", f"{param}: needs a timezone (Z)", param=param)
    return parsed.astimezone(dt.UTC)


@router.get(
    "/payments/reconcile",
    response_model=ReconcileReport,
    response_model_by_alias=True,
    responses={502: {"model": ErrorEnvelope}, 503: {"model": ErrorEnvelope}},
    summary="Compare orders, the ledger and Stripe",
    description="Every mismatch for orders and Stripe sessions created in [from, to) "
    "(default: the last 7 days; at most 93 days): paid at Stripe but not credited, credited "
    "twice, refunded at Stripe but not debited, and the reverse cases.",
)
async def reconcile(
    p: PaymentsDep,
    from_: Annotated[str | None, Query(alias="from", description="Date or RFC 3339 time")] = None,
    to: Annotated[str | None, Query(description="Date or RFC 3339 time (exclusive)")] = None,
) -> dict[str, Any]:
    end = _when(to, "to", p.clock() + dt.timedelta(seconds=1))  # now included
    start = _when(from_, "from", end - dt.timedelta(days=7))
    if start >= end or end - start > _MAX_SPAN:
        raise error("E16", "from: must be before `to`, at most 93 days earlier", param="from")
    report = await upkeep.reconcile(p, start, end)
    return {
        "from": report.start,
        "to": report.end,
        "sessions_checked": report.sessions_checked,
        "orders_checked": report.orders_checked,
        "data": [MismatchRead.model_validate(asdict(m)) for m in report.mismatches],
    }


@router.post(
    "/payments/reconcile/repair",
    response_model=RepairRead,
    responses={404: {"model": ErrorEnvelope}, 409: {"model": ErrorEnvelope}},
    summary="Repair one mismatch",
    description="Checks the mismatch again and repairs it if it is still there; repairing "
    "twice changes nothing the second time (`repaired: false`).",
)
async def repair(deps: Deps, p: PaymentsDep, principal: Admin, body: RepairRequest) -> RepairRead:
    result = await upkeep.repair(p, body.id, actor=principal.actor)
    if result.repaired:
        async with deps.db.begin() as conn:
            await record_audit(
                conn,
                actor=principal.actor,
                action="payments.repair",
                target=body.id,
                detail={"balance_change_nusd": result.balance_change_nusd},
            )
    return RepairRead.model_validate(asdict(result))


# -- settings ------------------------------------------------------------------------------------


class PaymentSettingsRead(BaseModel):  # USD strings of 2 decimals, no nUSD siblings
    configured: bool = Field(description="Both Stripe secrets are set: payments are on")
    stripe_secret_key_set: bool
    stripe_webhook_secret_set: bool
    stripe_api_base: str | None = Field(description="None: Stripe's own API")
    topup_presets_usd: list[str]
    topup_min_usd: str
    topup_max_usd: str
    order_expiry_min: int
    refund_window_days: int
    max_pending_orders: int
    read_only: list[str] = Field(description="Set in the config file or environment")
    webhook_url: str = Field(description="Where Stripe must send events (signing secret above)")


Secret = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class PaymentSettingsUpdate(InputModel):
    """Only the fields sent change; `null` or `""` puts a field back to its default."""

    stripe_secret_key: Secret | None = None
    stripe_webhook_secret: Secret | None = None
    stripe_api_base: str | None = None
    topup_presets_usd: list[Decimal] | None = None
    topup_min_usd: Decimal | None = None
    topup_max_usd: Decimal | None = None
    # The bounds of `[payments]` (config.PaymentsSettings), checked before anything is stored.
    order_expiry_min: Annotated[int, Field(ge=30, le=1440)] | None = None
    refund_window_days: Annotated[int, Field(ge=0, le=3650)] | None = None
    max_pending_orders: Annotated[int, Field(ge=1, le=100)] | None = None


def _settings_read(cfg: PaymentsConfig, webhook_url: str) -> PaymentSettingsRead:
    return PaymentSettingsRead(
        configured=cfg.configured,
        stripe_secret_key_set=bool(cfg.stripe_secret_key),
        stripe_webhook_secret_set=bool(cfg.stripe_webhook_secret),
        stripe_api_base=cfg.stripe_api_base,
        **topup_limits(cfg),
        order_expiry_min=cfg.order_expiry_min,
        refund_window_days=cfg.refund_window_days,
        max_pending_orders=cfg.max_pending_orders,
        read_only=sorted(cfg.from_file),
        webhook_url=webhook_url,
    )


@router.get(
    "/settings/payments", response_model=PaymentSettingsRead, summary="Get the payment settings"
)
async def get_payment_settings(p: PaymentsDep) -> PaymentSettingsRead:
    return _settings_read(await p.config(), p.webhook_url)


@router.patch(
    "/settings/payments",
    response_model=PaymentSettingsRead,
    responses={409: {"model": ErrorEnvelope}},
    summary="Change the payment settings",
    description="The Stripe secrets are stored encrypted and never shown again. 409 "
    "`CONFLICT` for a field the config file or environment sets.",
)
async def patch_payment_settings(
    deps: Deps, p: PaymentsDep, principal: Admin, body: PaymentSettingsUpdate
) -> PaymentSettingsRead:
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    key = changes.get("stripe_secret_key")
    if isinstance(key, str) and key.startswith("pk_"):
        raise error(
            "E16",
            "stripe_secret_key: this is a publishable key; use the secret key (sk_…)",
            param="stripe_secret_key",
        )
    try:
        cfg = await p.save_config(changes)
    except ReadOnlySetting as exc:
        raise error(
            "CONFLICT", f"{exc.field} is set in the config file and is read-only here"
        ) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        param = field_path(first.get("loc", ())) or next(iter(changes), None)
        msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        raise error("E16", f"{param}: {msg}", param=param) from None
    async with deps.db.begin() as conn:
        await record_audit(
            conn,
            actor=principal.actor,
            action="settings.update",
            target="payments",
            detail={"fields": sorted(changes)},  # never the values: two are secrets
        )
    return _settings_read(cfg, p.webhook_url)
