"""`/purchase` (alias `/billing/topup`): top up the balance (R14.2).

Presets and a custom amount (2 decimals, within the instance's limits) create an order through
the orders API's own service and send the browser to Stripe's hosted checkout; Stripe comes
back to `/payment/result` (paid) or here (cancelled). Without Stripe settings the page says
payments are not configured (R14.7). The user's open checkouts are listed with Resume and
Cancel (R14.4): the page remembers them from the server, so it works without JavaScript, in
any browser the user comes back with.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import RowMapping
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api.me.balance import read_balance
from torouter.api.order_schemas import OrderCreate
from torouter.api.order_service import create_order
from torouter.console.forms import FormErrors, read_form
from torouter.console.guards import verified
from torouter.console.pages.pay_common import (
    deps_of,
    form_targets,
    order_views,
    orders_with_plans,
    payments_config,
    to_checkout,
)
from torouter.console.payment_messages import payment_error
from torouter.console.render import page
from torouter.console.visitor import Visitor
from torouter.errors import GatewayError, error
from torouter.storage.tables import orders

__all__ = ["routes"]

_OPEN_SHOWN = 10  # more open checkouts than this is beyond `max_pending_orders` anyway


async def _open_orders(request: Request, v: Visitor) -> list[RowMapping]:
    """Pending checkouts that can still be paid, newest first."""
    deps = deps_of(request)
    c = orders.c
    stmt = (
        orders_with_plans(v.user_id, "pending")
        .where(c.method == "stripe", c.session_expires_at > v.now)
        .limit(_OPEN_SHOWN)
    )
    async with deps.api.db.connect() as conn:
        return list((await conn.execute(stmt)).mappings())


async def _render(
    request: Request,
    v: Visitor,
    *,
    status: int = 200,
    form: dict[str, str] | None = None,
    errors: FormErrors | None = None,
) -> Response:
    deps = deps_of(request)
    _, cfg = await payments_config(deps)
    configured = cfg is not None and cfg.configured
    balance = await read_balance(deps.api, v.user_id)
    views = order_views(await _open_orders(request, v), v.now, cfg) if configured else []
    context: dict[str, Any] = {
        "configured": configured,
        "balance": balance,
        "open_orders": views,
        "form": form or {},
        "errors": errors or FormErrors(v.t),
    }
    if cfg is not None and configured:
        context |= {
            "presets": cfg.topup_presets_usd,
            "min_usd": cfg.topup_min_usd,
            "max_usd": cfg.topup_max_usd,
        }
    return page(
        request,
        v,
        "purchase.html",
        status=status,
        form_targets=form_targets(cfg, views),
        **context,
    )


@verified
async def purchase(request: Request, v: Visitor) -> Response:
    return await _render(request, v)


@verified
async def create_topup(request: Request, v: Visitor) -> Response:
    """A preset button posts `preset_usd`, the custom form `amount_usd`."""
    form = await read_form(request, v)
    deps = deps_of(request)
    p, cfg = await payments_config(deps)
    errors = FormErrors(v.t)
    amount = (form.get("preset_usd") or form.get("amount_usd") or "").strip()
    try:
        if p is None:  # a server built without the payments service
            raise error("PAYMENTS_NOT_CONFIGURED")
        body = OrderCreate.model_validate({"kind": "topup", "amount_usd": amount or None})
        row = await create_order(deps.api, p, user_id=v.user_id, actor=v.principal.actor, body=body)
    except ValidationError as exc:
        errors.from_validation(exc, ("amount_usd",))
        status = 400
    except GatewayError as exc:
        custom = exc.param == "amount_usd" and "preset_usd" not in form
        errors.add("amount_usd" if custom else None, payment_error(exc, v.t, v.fmt.price))
        status = exc.status
    else:
        return to_checkout(request, v, str(row["stripe_session_url"]), cfg)
    kept = {} if "preset_usd" in form else {"amount_usd": form.get("amount_usd", "")}
    return await _render(request, v, status=status, form=kept, errors=errors)


routes = [
    Route("/purchase", purchase, methods=["GET"]),
    Route("/purchase", create_topup, methods=["POST"]),
    Route("/billing/topup", purchase, methods=["GET"]),
]
