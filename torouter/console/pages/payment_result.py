"""`/payment/result?order=<id>`: where Stripe sends the user back after paying (R14.2, R14.3).

The page shows the order's state. While it is pending, htmx asks for the status fragment
every few seconds (the webhook usually lands within them); after `POLL_FOR_S` without news the
server asks Stripe itself through the same exactly-once path as the webhook (`Payments.sync`)
and polling stops. Without JavaScript a "Check again" link does the same by reloading. The
start of the wait travels in the URL (`since`), so no state is kept between requests; it is
clamped, and a forged one can only make the server ask Stripe sooner, as the orders API's
sync call may anyway.

A paid top-up shows the new balance (the fragment also replaces the navbar's, out of band);
failed, expired and cancelled orders say what happened and what to do next.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api import subscription_service as subs
from torouter.api.me.balance import read_balance
from torouter.console.guards import verified
from torouter.console.pages.pay_common import (
    OrderView,
    deps_of,
    form_targets,
    order_views,
    orders_with_plans,
    payments_config,
)
from torouter.console.render import page
from torouter.console.visitor import Visitor
from torouter.errors import GatewayError
from torouter.storage.tables import orders, subscriptions

__all__ = ["POLL_EVERY_S", "POLL_FOR_S", "routes"]

POLL_EVERY_S = 2
POLL_FOR_S = 60  # R14.3: then ask Stripe
_MAX_WAIT = dt.timedelta(hours=1)


def _since(raw: str | None, now: dt.datetime) -> dt.datetime:
    """When the wait began: `since` (unix seconds) within the last hour, else now."""
    try:
        when = dt.datetime.fromtimestamp(int(raw or ""), dt.UTC)
    except (ValueError, OverflowError, OSError):
        return now
    return min(max(when, now - _MAX_WAIT), now)


async def _order(request: Request, v: Visitor, order_id: str) -> OrderView | None:
    deps = deps_of(request)
    _, cfg = await payments_config(deps)
    stmt = orders_with_plans(v.user_id).where(orders.c.id == order_id)
    async with deps.api.db.connect() as conn:
        row = (await conn.execute(stmt)).mappings().first()
    if row is None:
        return None
    (view,) = order_views([row], v.now, cfg)
    return view


async def _state(request: Request, v: Visitor, *, fragment: bool) -> Response:
    deps = deps_of(request)
    order_id = request.query_params.get("order", "")
    view = await _order(request, v, order_id) if order_id else None
    if view is None:
        return page(request, v, "errors/not_found.html", status=404)
    since = _since(request.query_params.get("since"), v.now)
    waited = v.now - since >= dt.timedelta(seconds=POLL_FOR_S)
    asked, unreachable = False, False
    p, cfg = await payments_config(deps)
    if view.status == "pending" and view.method == "stripe" and waited and p is not None:
        asked = True
        try:
            await p.sync(view.id, user_id=v.user_id)
        except GatewayError:
            unreachable = True  # Stripe is down or payments were switched off: the job retries
        view = await _order(request, v, view.id) or view
    balance = await read_balance(deps.api, v.user_id)
    assert v.user is not None
    v.user["balance_nusd"] = balance.balance_nusd  # the navbar shows the balance after it
    context: dict[str, Any] = {
        "order": view,
        "balance": balance,
        "since": int(since.timestamp()),
        "polling": view.status == "pending" and not asked and not waited,
        "asked": asked,
        "unreachable": unreachable,
        "poll_every": POLL_EVERY_S,
        "subscription": await _subscription(request, view),
        "fragment": fragment,
    }
    template = "partials/payment_status.html" if fragment else "payment/result.html"
    return page(request, v, template, form_targets=form_targets(cfg, [view]), **context)


async def _subscription(request: Request, view: OrderView) -> subs.SubscriptionRead | None:
    """The subscription a paid plan order started or extended, as `/subscriptions` shows it."""
    if view.kind != "subscription" or view.subscription_id is None:
        return None
    deps = deps_of(request)
    async with deps.api.db.connect() as conn:
        rows = list(
            (
                await conn.execute(
                    subs.sub_select().where(subscriptions.c.id == view.subscription_id)
                )
            ).mappings()
        )
        reads = await subs.sub_reads(deps.api, conn, rows)
    return reads[0] if reads else None


@verified
async def result(request: Request, v: Visitor) -> Response:
    return await _state(request, v, fragment=False)


@verified
async def result_status(request: Request, v: Visitor) -> Response:
    """The status card alone, for htmx to swap in."""
    return await _state(request, v, fragment=True)


routes = [
    Route("/payment/result", result, methods=["GET"]),
    Route("/payment/result/status", result_status, methods=["GET"]),
]
