"""`/admin/orders`: every order (R14.9) with filters (status, kind, user, days), 25 a page;
an order's page with its Stripe facts and ledger entries; refund decisions (R14.5): approve
up to what is refundable (all of it by default, or part, in whole cents) or reject with a
required note; and a sync with Stripe.

Lists, decisions and syncs go through `/api/admin/orders`' handlers, so the refundable
amount, the refusals (above the refundable, not awaiting a decision, Stripe failing) and the
audit rows are the API's own; a refusal is shown in the form that caused it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import or_, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api.admin import orders as api
from torouter.api.order_schemas import (
    ORDER_STATUSES,
    AdminOrderRead,
    RefundApproval,
    RefundRejection,
)
from torouter.api.pagination import Page
from torouter.billing.payments.service import Payments
from torouter.console.admin.common import (
    attempt,
    deps,
    page_params,
    query_choice,
    query_date,
    query_text,
    user_of,
)
from torouter.console.forms import FormErrors, read_form
from torouter.console.guards import Endpoint, admin
from torouter.console.render import page, redirect
from torouter.console.visitor import Visitor
from torouter.errors import GatewayError, error
from torouter.storage.tables import ledger

__all__ = ["routes"]

KINDS = ("topup", "subscription")
_ORDER_ID_MAX = 64


def _payments(request: Request) -> Payments | None:
    found: Payments | None = deps(request).api.payments
    return found


def _order_id(request: Request) -> str | None:
    raw = str(request.path_params.get("order_id", ""))
    ok = 0 < len(raw) <= _ORDER_ID_MAX and raw.isascii() and raw.replace("_", "").isalnum()
    return raw if ok else None


@admin
async def list_orders(request: Request, v: Visitor) -> Response:
    p = _payments(request)
    if p is None:
        return page(request, v, "admin/orders/list.html", orders=None, filters={}, errors=None)
    errors = FormErrors(v.t)
    user_text = query_text(request, "user", 320)
    filters: dict[str, Any] = {
        "status": query_choice(request, "status", ORDER_STATUSES),
        "kind": query_choice(request, "kind", KINDS),
        "user": user_text,
        "start": query_date(request, "start", errors),
        "end": query_date(request, "end", errors),
    }
    user_id = await user_of(request, user_text, errors, "user")
    found = None
    if not errors:
        a = deps(request).api

        async def read() -> Page[AdminOrderRead]:
            return await api.list_orders(
                a,
                p,
                page_params(request, 25),
                status=filters["status"],
                user_id=user_id,
                kind=filters["kind"],
                start=filters["start"],
                end=filters["end"],
            )

        found = await attempt(errors, ("start", "end"), read)
    return page(
        request,
        v,
        "admin/orders/list.html",
        status=400 if errors else 200,
        orders=found,
        filters=filters,
        statuses=ORDER_STATUSES,
        kinds=KINDS,
        errors=errors,
    )


async def _ledger_of(request: Request, order: AdminOrderRead) -> list[dict[str, Any]]:
    """Its balance changes: the credit (reference = the order id), refunds and their
    reversals (`<id>:<n>`, `<id>:<refund>`) and reconciliation's corrections."""
    like = order.id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    q = (
        select(ledger)
        .where(
            ledger.c.user_id == order.user_id,
            or_(
                ledger.c.reference == order.id,
                ledger.c.reference.like(f"{like}:%", escape="\\"),
                ledger.c.reference.like(f"reconcile:{like}:%", escape="\\"),
            ),
        )
        .order_by(ledger.c.id)
    )
    async with deps(request).api.db.connect() as conn:
        return [dict(r) for r in (await conn.execute(q)).mappings()]


async def _render_order(
    request: Request,
    v: Visitor,
    order: AdminOrderRead,
    *,
    status: int = 200,
    errors: dict[str, FormErrors] | None = None,
    forms: dict[str, dict[str, str]] | None = None,
) -> Response:
    p = _payments(request)
    configured = p is not None and (await p.config()).configured
    all_errors = {name: FormErrors(v.t) for name in ("approve", "reject", "sync")}
    all_errors.update(errors or {})
    return page(
        request,
        v,
        "admin/orders/detail.html",
        status=status,
        order=order,
        entries=await _ledger_of(request, order),
        configured=configured,
        errors=all_errors,
        forms=forms or {},
    )


async def _load(request: Request) -> AdminOrderRead | None:
    p, order_id = _payments(request), _order_id(request)
    if p is None or order_id is None:
        return None
    try:
        return await api.get_order(p, order_id)
    except GatewayError as exc:  # the API's 404
        if exc.status == 404:
            return None
        raise


@admin
async def order_page(request: Request, v: Visitor) -> Response:
    order = await _load(request)
    if order is None:
        return page(request, v, "errors/not_found.html", status=404)
    return await _render_order(request, v, order)


Act = Callable[
    [Payments, AdminOrderRead, dict[str, str], Visitor, Request], Awaitable[AdminOrderRead]
]


def _action(section: str, known: tuple[str, ...], notice: str, act: Act) -> Endpoint:
    """POST handler: read the form (CSRF), act through the API, redirect to the order with
    a notice, or re-render the order with the refusal in the section's form."""

    @admin
    async def endpoint(request: Request, v: Visitor) -> Response:
        order = await _load(request)
        if order is None:
            await read_form(request, v)
            return page(request, v, "errors/not_found.html", status=404)
        form = await read_form(request, v)
        p = _payments(request)
        assert p is not None
        errors = FormErrors(v.t)
        status = [400]

        async def run() -> AdminOrderRead:
            try:
                return await act(p, order, form, v, request)
            except GatewayError as exc:
                status[0] = exc.status if exc.status >= 400 else 400  # 404, 409, 502, 503
                raise

        if await attempt(errors, known, run) is None:
            return await _render_order(
                request,
                v,
                await _load(request) or order,
                status=status[0],
                errors={section: errors},
                forms={section: form},
            )
        return redirect(f"/admin/orders/{order.id}", notice=notice)

    endpoint.__name__ = f"order_{section}"
    return endpoint


async def _approve(
    p: Payments, order: AdminOrderRead, form: dict[str, str], v: Visitor, request: Request
) -> AdminOrderRead:
    body = RefundApproval.model_validate(
        {
            "amount_usd": form.get("amount_usd", "").strip() or None,
            "note": form.get("note", "").strip() or None,
        }
    )
    return await api.approve(deps(request).api, p, v.principal, order.id, body)


async def _reject(
    p: Payments, order: AdminOrderRead, form: dict[str, str], v: Visitor, request: Request
) -> AdminOrderRead:
    note = form.get("note", "").strip()
    body = RefundRejection.model_validate({"note": note} if note else {})  # blank: required
    return await api.reject(deps(request).api, p, v.principal, order.id, body)


async def _sync(
    p: Payments, order: AdminOrderRead, form: dict[str, str], v: Visitor, request: Request
) -> AdminOrderRead:
    if not order.stripe_session_id:
        raise error("CONFLICT", "This order has no Stripe checkout to sync")
    return await api.sync(deps(request).api, p, v.principal, order.id)


routes = [
    Route("/admin/orders", list_orders, methods=["GET"]),
    Route("/admin/orders/{order_id}", order_page, methods=["GET"]),
    Route(
        "/admin/orders/{order_id}/refund/approve",
        _action("approve", ("amount_usd", "note"), "refund_approved", _approve),
        methods=["POST"],
    ),
    Route(
        "/admin/orders/{order_id}/refund/reject",
        _action("reject", ("note",), "refund_rejected", _reject),
        methods=["POST"],
    ),
    Route(
        "/admin/orders/{order_id}/sync",
        _action("sync", (), "order_synced", _sync),
        methods=["POST"],
    ),
]
