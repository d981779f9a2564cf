"""What the payment pages share (R14, R15.1): the payments service and its settings, the
user's orders as the pages list them, and the step to Stripe's hosted checkout.

An order on a page is an `OrderView`: the stored row, the plan's name, and what the user may
do with it now (resume, cancel, ask for a refund). Those flags only decide which buttons a page
offers; the services decide, and a stale button meets their error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from torouter.api.order_service import my_orders
from torouter.billing.payments.config import PaymentsConfig
from torouter.billing.payments.refunds import refund_refusal
from torouter.billing.payments.service import Payments
from torouter.console.checkout import checkout_origins, leads_to, origin
from torouter.console.deps import ConsoleDeps
from torouter.console.forms import FormErrors
from torouter.console.payment_messages import payment_error
from torouter.console.render import page, safe_next
from torouter.console.visitor import Visitor
from torouter.errors import GatewayError
from torouter.records import Row
from torouter.storage.tables import orders, plans

__all__ = [
    "OrderView",
    "deps_of",
    "form_targets",
    "order_view",
    "order_views",
    "orders_with_plans",
    "payments_config",
    "problem",
    "to_checkout",
]


def deps_of(request: Request) -> ConsoleDeps:
    deps: ConsoleDeps = request.app.state.deps
    return deps


async def payments_config(deps: ConsoleDeps) -> tuple[Payments | None, PaymentsConfig | None]:
    """The payments service and its effective settings (None, None where it is not wired)."""
    p: Payments | None = deps.api.payments
    if p is None:
        return None, None
    return p, await p.config()


def orders_with_plans(user_id: int, status: str | None = None) -> Select[Any]:
    """`my_orders`, with the name of the plan a subscription order is for."""
    return (
        my_orders(user_id, status)
        .add_columns(plans.c.name.label("plan_name"))
        .outerjoin(plans, plans.c.id == orders.c.plan_id)
    )


@dataclass(frozen=True, slots=True)
class OrderView:
    row: Row
    can_resume: bool
    can_cancel: bool
    can_refund: bool

    def __getattr__(self, name: str) -> Any:  # the template reads the row's columns
        try:
            return self.row[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def ref(self) -> str:
        """A short reference for buttons and lists: the order id's last 8 characters."""
        return str(self.row["id"])[-8:]

    @property
    def checkout_open(self) -> bool:
        return self.can_resume


def order_view(row: Row, now: dt.datetime, refund_days: int | None) -> OrderView:
    pending = row["status"] == "pending" and row["method"] == "stripe"
    expires = row["session_expires_at"]
    return OrderView(
        row=row,
        can_resume=pending and expires is not None and expires > now,
        can_cancel=pending,
        can_refund=refund_days is not None
        and refund_refusal(row, now=now, window_days=refund_days) is None,
    )


def order_views(
    rows: Sequence[Row], now: dt.datetime, cfg: PaymentsConfig | None
) -> list[OrderView]:
    days = cfg.refund_window_days if cfg is not None and cfg.configured else None
    return [order_view(r, now, days) for r in rows]


def form_targets(cfg: PaymentsConfig | None, views: Sequence[OrderView] = ()) -> tuple[str, ...]:
    """The checkout origins a page's payment forms may redirect to (`checkout.py`)."""
    if cfg is None or not cfg.configured:
        return ()
    return checkout_origins(
        cfg.stripe_api_base, [v.row["stripe_session_url"] for v in views if v.can_resume]
    )


def to_checkout(request: Request, v: Visitor, url: str, cfg: PaymentsConfig | None) -> Response:
    """Off to Stripe's page: a redirect where the page the form was on allowed it, else a
    page with a link (a checkout on a domain the console could not know beforehand)."""
    deps = deps_of(request)
    allowed = checkout_origins(cfg.stripe_api_base if cfg else None)
    if leads_to(url, allowed, origin(deps.base_url)):
        return RedirectResponse(url, status_code=303)
    return page(request, v, "payment/continue.html", url=url)


def problem(request: Request, v: Visitor, exc: GatewayError, back: str | None) -> Response:
    """An action that did not work: the reason in words and the way back."""
    errors = FormErrors(v.t)
    errors.add(None, payment_error(exc, v.t))
    return page(
        request,
        v,
        "payment/problem.html",
        status=exc.status,
        errors=errors,
        back=safe_next(back, "/orders"),
    )
