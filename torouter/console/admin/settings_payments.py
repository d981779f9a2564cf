"""The payments section of `/admin/settings` (R14.8): the Stripe secret key and webhook
signing secret (write-only: the page says whether each is set, never what it is), Stripe's
API address, the top-up presets and limits, the checkout expiry, the refund window and the
open-order cap. Fields the configuration file or environment sets are shown read-only.

Saved through `/api/admin/settings/payments`' handler: its validation (a publishable key is
refused, bounds), its file-wins rule and its audit row (the field names, never the values).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api.admin import payments as api
from torouter.api.admin.payments import PaymentSettingsRead, PaymentSettingsUpdate
from torouter.console.admin.common import attempt, deps
from torouter.console.forms import FormErrors, read_form
from torouter.console.guards import admin
from torouter.console.render import redirect
from torouter.console.visitor import Visitor
from torouter.errors import error

__all__ = ["FIELDS", "SECRETS", "current", "routes"]

SECRETS = ("stripe_secret_key", "stripe_webhook_secret")
PLAIN = (
    "stripe_api_base",
    "topup_presets_usd",
    "topup_min_usd",
    "topup_max_usd",
    "order_expiry_min",
    "refund_window_days",
    "max_pending_orders",
)
FIELDS = SECRETS + PLAIN


async def current(request: Request) -> PaymentSettingsRead | None:
    p = deps(request).api.payments
    return None if p is None else await api.get_payment_settings(p)


def _body(form: dict[str, str], now: PaymentSettingsRead) -> dict[str, Any]:
    """Only what the form may change: a blank secret keeps the stored one (a box clears
    it); a blank field puts it back to its default; read-only fields are never sent."""
    fixed = set(now.read_only)
    body: dict[str, Any] = {}
    for name in SECRETS:
        if name in fixed:
            continue
        value = form.get(name, "").strip()
        if value:
            body[name] = value
        elif form.get(f"clear_{name}") == "on":
            body[name] = None
    for name in PLAIN:
        if name in fixed or name not in form:
            continue
        value = form[name].strip()
        if name == "topup_presets_usd":
            parts = [x.strip() for x in value.replace("\n", ",").split(",") if x.strip()]
            body[name] = parts or None
        else:
            body[name] = value or None
    return body


@admin
async def save_payments(request: Request, v: Visitor) -> Response:
    from torouter.console.admin.settings import render_settings  # the page this section is on

    form = await read_form(request, v)
    d = deps(request)
    p = d.api.payments
    errors = FormErrors(v.t)

    async def save() -> PaymentSettingsRead:
        if p is None:
            raise error("PAYMENTS_NOT_CONFIGURED")
        now = await api.get_payment_settings(p)
        body = PaymentSettingsUpdate.model_validate(_body(form, now))
        return await api.patch_payment_settings(d.api, p, v.principal, body)

    if await attempt(errors, FIELDS, save) is None:
        for name in SECRETS:
            form.pop(name, None)  # never sent back to the page
        status = 409 if errors.general and not errors.fields else 400
        return await render_settings(
            request, v, status=status, errors={"payments": errors}, forms={"payments": form}
        )
    return redirect("/admin/settings#payments", notice="settings_saved")


routes = [Route("/admin/settings/payments", save_payments, methods=["POST"])]
