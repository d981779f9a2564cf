"""`/orders`: the user's orders (R14.4, R15.1), 20 a page with a status filter, and one
order's page; Resume, Cancel and Request refund post here from every payment page.

The actions call the `Payments` service as the JSON API does (`/api/me/orders/{id}/…`):
Resume answers the checkout URL while the session can be paid (else the order is now
`expired`), Cancel expires the Stripe session first, a refund request needs a reason and
shows what of the top-up is still refundable (spent money is not, R14.5).
"""

from __future__ import annotations

import math

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api.order_schemas import ORDER_STATUSES, RefundRequest
from torouter.api.pagination import DEFAULT_PAGE_SIZE, PageParams, fetch_page
from torouter.billing.payments import refund_flow
from torouter.billing.payments.refunds import refundable_now
from torouter.console.forms import FormErrors, read_form
from torouter.console.guards import verified
from torouter.console.pages.pay_common import (
    OrderView,
    deps_of,
    form_targets,
    order_views,
    orders_with_plans,
    payments_config,
    problem,
    to_checkout,
)
from torouter.console.payment_messages import payment_error
from torouter.console.render import page, redirect, safe_next
from torouter.console.visitor import Visitor
from torouter.errors import GatewayError, error
from torouter.storage.tables import orders

__all__ = ["routes"]

PAGE_SIZE = DEFAULT_PAGE_SIZE  # 20 (R15.1)


def _page_number(raw: str | None) -> int:
    try:
        return min(max(int(raw or 1), 1), 100_000)
    except ValueError:
        return 1


@verified
async def list_orders(request: Request, v: Visitor) -> Response:
    deps = deps_of(request)
    _, cfg = await payments_config(deps)
    status = request.query_params.get("status") or None
    if status not in (None, *ORDER_STATUSES):
        status = None
    number = _page_number(request.query_params.get("page"))
    async with deps.api.db.connect() as conn:
        found = await fetch_page(
            conn, orders_with_plans(v.user_id, status), PageParams(number, PAGE_SIZE), dict
        )
    views = order_views(found.data, v.now, cfg)
    pages = max(1, math.ceil(found.total / PAGE_SIZE))
    return page(
        request,
        v,
        "orders/list.html",
        form_targets=form_targets(cfg, views),
        orders=views,
        filter_status=status or "",
        statuses=ORDER_STATUSES,
        page_number=number,
        pages=pages,
        total=found.total,
    )


async def _owned(request: Request, v: Visitor) -> OrderView | None:
    """The user's order of the path, with its plan's name; None for none (or another's)."""
    deps = deps_of(request)
    _, cfg = await payments_config(deps)
    order_id = request.path_params["order_id"]
    stmt = orders_with_plans(v.user_id).where(orders.c.id == order_id)
    async with deps.api.db.connect() as conn:
        row = (await conn.execute(stmt)).mappings().first()
    if row is None:
        return None
    (view,) = order_views([row], v.now, cfg)
    return view


@verified
async def order_detail(request: Request, v: Visitor) -> Response:
    view = await _owned(request, v)
    if view is None:
        return page(request, v, "errors/not_found.html", status=404)
    return await _detail(request, v, view)


async def _detail(
    request: Request,
    v: Visitor,
    view: OrderView,
    *,
    status: int = 200,
    form: dict[str, str] | None = None,
    errors: FormErrors | None = None,
) -> Response:
    deps = deps_of(request)
    _, cfg = await payments_config(deps)
    refundable = None
    if view.kind == "topup" and view.status in ("paid", "refund_requested"):
        async with deps.api.db.connect() as conn:
            refundable = await refundable_now(conn, view.row)
    return page(
        request,
        v,
        "orders/detail.html",
        status=status,
        form_targets=form_targets(cfg, [view]),
        order=view,
        refundable=refundable,
        refund_days=cfg.refund_window_days if cfg and cfg.configured else None,
        form=form or {},
        errors=errors or FormErrors(v.t),
    )


@verified
async def resume(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    deps = deps_of(request)
    p, cfg = await payments_config(deps)
    try:
        if p is None:
            raise error("PAYMENTS_NOT_CONFIGURED")
        url = await p.resume(request.path_params["order_id"], user_id=v.user_id)
    except GatewayError as exc:
        return problem(request, v, exc, form.get("next"))
    return to_checkout(request, v, url, cfg)


@verified
async def cancel(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    deps = deps_of(request)
    p, _ = await payments_config(deps)
    try:
        if p is None:
            raise error("PAYMENTS_NOT_CONFIGURED")
        await p.cancel(request.path_params["order_id"], user_id=v.user_id)
    except GatewayError as exc:
        return problem(request, v, exc, form.get("next"))
    return redirect(safe_next(form.get("next"), "/orders"), notice="order_cancelled")


@verified
async def request_refund(request: Request, v: Visitor) -> Response:
    view = await _owned(request, v)
    if view is None:
        return page(request, v, "errors/not_found.html", status=404)
    form = await read_form(request, v)
    deps = deps_of(request)
    p, _ = await payments_config(deps)
    errors = FormErrors(v.t)
    try:
        body = RefundRequest.model_validate({"reason": form.get("reason", "").strip()})
        if p is None:
            raise error("PAYMENTS_NOT_CONFIGURED")
        await refund_flow.request(p, view.id, user_id=v.user_id, reason=body.reason)
    except ValidationError as exc:
        errors.from_validation(exc, ("reason",))
        return await _detail(request, v, view, status=400, form=form, errors=errors)
    except GatewayError as exc:
        errors.add(None, payment_error(exc, v.t))
        return await _detail(request, v, view, status=exc.status, form=form, errors=errors)
    return redirect(f"/orders/{view.id}", notice="refund_requested")


routes = [
    Route("/orders", list_orders, methods=["GET"]),
    Route("/orders/{order_id}", order_detail, methods=["GET"]),
    Route("/orders/{order_id}/resume", resume, methods=["POST"]),
    Route("/orders/{order_id}/cancel", cancel, methods=["POST"]),
    Route("/orders/{order_id}/refund", request_refund, methods=["POST"]),
]
