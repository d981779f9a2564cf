"""`/subscriptions`: plans per group and the user's subscriptions (R14.6, R15.1).

A plan is bought or renewed from the balance (an order paid at once; 402 when the balance is
short, shown with a Top up link) or by card through Stripe Checkout (a pending order, like a
top-up). Both go through the orders API's service, so the rules (one live plan per group,
`max_per_user`, renewal from the later of now and the expiry) exist once. The user's
subscriptions show their state, expiry, auto-renew switch and the day/week/month use against
their caps, as `/api/me/subscriptions` reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import RowMapping
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api import subscription_service as subs
from torouter.api.me.balance import BalanceRead, read_balance
from torouter.api.me.subscriptions import my_plans, set_auto_renew
from torouter.api.order_schemas import OrderCreate
from torouter.api.order_service import create_order, offered_plan
from torouter.api.subscription_service import SubscriptionRead
from torouter.console.forms import FormErrors, read_form
from torouter.console.guards import verified
from torouter.console.pages.pay_common import deps_of, form_targets, payments_config, to_checkout
from torouter.console.payment_messages import payment_error
from torouter.console.render import page, redirect
from torouter.console.visitor import Visitor
from torouter.errors import GatewayError, error
from torouter.storage.tables import groups, plans, subscriptions

__all__ = ["routes"]

_LIVE = ("active", "paused")


@dataclass(slots=True)
class PlanGroup:
    """One subscription group's plans, and the user's subscription to it (if any)."""

    id: int
    name: str
    plans: list[RowMapping] = field(default_factory=list)
    subscription: SubscriptionRead | None = None

    def live_plan_id(self) -> int | None:
        s = self.subscription
        return s.plan_id if s is not None and s.state in _LIVE else None


@dataclass(frozen=True, slots=True)
class Shortfall:
    """A balance purchase refused for want of money (402): what is missing."""

    plan: str
    price_nusd: int
    available_nusd: int


def _grouped(rows: Sequence[RowMapping], mine: Sequence[SubscriptionRead]) -> list[PlanGroup]:
    by_group: dict[int, PlanGroup] = {}
    for row in rows:
        gid = int(row["group_id"])
        group = by_group.setdefault(gid, PlanGroup(gid, str(row["group"])))
        group.plans.append(row)
    for sub in mine:
        if sub.group_id in by_group:
            by_group[sub.group_id].subscription = sub
    return list(by_group.values())


async def _render(
    request: Request,
    v: Visitor,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    shortfall: Shortfall | None = None,
) -> Response:
    deps = deps_of(request)
    _, cfg = await payments_config(deps)
    stmt = my_plans(v.user_id).order_by(groups.c.id, plans.c.price_nusd, plans.c.id)
    mine_stmt = (
        subs.sub_select()
        .where(subscriptions.c.user_id == v.user_id)
        .order_by(subscriptions.c.expires_at.desc())
    )
    async with deps.api.db.connect() as conn:
        offered = list((await conn.execute(stmt)).mappings())
        mine = await subs.sub_reads(
            deps.api, conn, list((await conn.execute(mine_stmt)).mappings())
        )
    balance: BalanceRead = await read_balance(deps.api, v.user_id)
    context: dict[str, Any] = {
        "groups": _grouped(offered, mine),
        "mine": mine,
        "balance": balance,
        "card": cfg is not None and cfg.configured,
        "errors": errors or FormErrors(v.t),
        "shortfall": shortfall,
    }
    return page(
        request,
        v,
        "subscriptions.html",
        status=status,
        form_targets=form_targets(cfg),
        **context,
    )


@verified
async def subscriptions_page(request: Request, v: Visitor) -> Response:
    return await _render(request, v)


@verified
async def buy(request: Request, v: Visitor) -> Response:
    """`plan_id` and `method` (`balance` or `stripe`)."""
    form = await read_form(request, v)
    deps = deps_of(request)
    p, cfg = await payments_config(deps)
    errors = FormErrors(v.t)
    method = form.get("method", "balance")
    plan_id = form.get("plan_id") or None
    try:
        body = OrderCreate.model_validate(
            {"kind": "subscription", "plan_id": plan_id, "method": method}
        )
        if p is None:
            raise error("PAYMENTS_NOT_CONFIGURED")
        row = await create_order(deps.api, p, user_id=v.user_id, actor=v.principal.actor, body=body)
    except ValidationError as exc:
        errors.from_validation(exc)
        return await _render(request, v, status=400, errors=errors)
    except GatewayError as exc:
        if exc.code == "INSUFFICIENT_BALANCE" and plan_id is not None:
            return await _short(request, v, int(plan_id))
        errors.add(None, payment_error(exc, v.t))
        return await _render(request, v, status=exc.status, errors=errors)
    if row["method"] == "stripe":
        return to_checkout(request, v, str(row["stripe_session_url"]), cfg)
    return redirect("/subscriptions", notice="plan_bought")


async def _short(request: Request, v: Visitor, plan_id: int) -> Response:
    """402 INSUFFICIENT_BALANCE, in words: the price, what is available, and a Top up link."""
    deps = deps_of(request)
    try:
        plan = await offered_plan(deps.api, v.user_id, plan_id)
    except GatewayError:  # withdrawn meanwhile
        return await _render(request, v, status=402)
    balance = await read_balance(deps.api, v.user_id)
    shortfall = Shortfall(str(plan["name"]), int(plan["price_nusd"]), balance.available_nusd)
    return await _render(request, v, status=402, shortfall=shortfall)


@verified
async def auto_renew(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    deps = deps_of(request)
    on = form.get("auto_renew") == "on"
    try:
        sub_id = int(request.path_params["sub_id"])
        await set_auto_renew(deps.api, v.principal, sub_id, on)
    except ValueError:
        return page(request, v, "errors/not_found.html", status=404)
    except GatewayError as exc:
        if exc.status in (403, 404):  # someone else's subscription looks like none
            return page(request, v, "errors/not_found.html", status=404)
        errors = FormErrors(v.t)
        errors.add(None, payment_error(exc, v.t))
        return await _render(request, v, status=exc.status, errors=errors)
    return redirect("/subscriptions", notice="auto_renew_on" if on else "auto_renew_off")


routes = [
    Route("/subscriptions", subscriptions_page, methods=["GET"]),
    Route("/subscriptions/buy", buy, methods=["POST"]),
    Route("/subscriptions/{sub_id}/auto-renew", auto_renew, methods=["POST"]),
]
