"""`/admin/users`: find accounts (email, state, role) and one account's page (R15.2): state,
role, balance and ledger, private-group grants, subscriptions, two-factor and sessions.

The actions posted from the account's page are in `user_actions.py`; this module reads and
renders, so a failed action re-renders the page with its errors through `render_user`.
"""

from __future__ import annotations

from typing import Any, get_args

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api.admin import ledger as ledger_api
from torouter.api.admin import subscriptions as subs_api
from torouter.api.admin import user_account as account_api
from torouter.api.admin import users as users_api
from torouter.api.admin.users import UserRead
from torouter.api.ledger_views import LedgerQuery
from torouter.api.pagination import PageParams
from torouter.api.subscription_service import PlanRead, plan_select
from torouter.console.admin.common import deps, page_params, path_id, query_choice, query_text
from torouter.console.devices import device
from torouter.console.forms import FormErrors
from torouter.console.guards import admin
from torouter.console.render import page
from torouter.console.visitor import Visitor
from torouter.errors import GatewayError
from torouter.records import UserRole, UserState
from torouter.storage.tables import group_grants, groups, plans

__all__ = ["SECTIONS", "render_user", "routes"]

STATES: tuple[UserState, ...] = get_args(UserState)
ROLES: tuple[UserRole, ...] = get_args(UserRole)
# The forms of the account page, each with its own errors.
SECTIONS = ("state", "role", "balance", "grants", "subscriptions", "totp", "sessions")
LEDGER_PAGE = 10


@admin
async def list_users(request: Request, v: Visitor) -> Response:
    q = query_text(request, "q", 320)
    state = query_choice(request, "state", STATES)
    role = query_choice(request, "role", ROLES)
    found = await users_api.list_users(
        deps(request).api,
        page_params(request),
        q=q or None,
        role=role,
        state=state,
    )
    return page(
        request,
        v,
        "admin/users/list.html",
        users=found,
        filters={"q": q, "state": state or "", "role": role or ""},
        states=STATES,
        roles=ROLES,
    )


async def _private_groups(request: Request, user_id: int) -> list[dict[str, Any]]:
    """Every private group, with whether this user holds a grant (R7.6)."""
    async with deps(request).api.db.connect() as conn:
        rows = (
            await conn.execute(
                select(groups.c.id, groups.c.name, groups.c.status, groups.c.billing_type)
                .where(groups.c.visibility == "private")
                .order_by(groups.c.name)
            )
        ).mappings()
        private = [dict(r) for r in rows]
        granted = set(
            (
                await conn.execute(
                    select(group_grants.c.group_id).where(group_grants.c.user_id == user_id)
                )
            ).scalars()
        )
    for g in private:
        g["granted"] = g["id"] in granted
    return private


async def _plans(request: Request) -> list[PlanRead]:
    async with deps(request).api.db.connect() as conn:
        rows = await conn.execute(plan_select().where(plans.c.enabled).order_by(plans.c.name))
        return [PlanRead.from_row(r) for r in rows.mappings()]


async def render_user(
    request: Request,
    v: Visitor,
    user: UserRead,
    *,
    status: int = 200,
    errors: dict[str, FormErrors] | None = None,
    forms: dict[str, dict[str, str]] | None = None,
) -> Response:
    api = deps(request).api
    ledger = await ledger_api.list_user_ledger(
        api,
        user.id,
        page_params(request, LEDGER_PAGE),
        LedgerQuery(reasons=(), start=None, end=None),
    )
    subscriptions = await subs_api.list_subscriptions(
        api, PageParams(1, 100), user_id=user.id, group_id=None, plan_id=None, state=None
    )
    sessions = await account_api.list_sessions(api, user.id, PageParams(1, 100))
    all_errors = {name: FormErrors(v.t) for name in SECTIONS}
    all_errors.update(errors or {})
    return page(
        request,
        v,
        "admin/users/detail.html",
        status=status,
        user=user,
        is_self=user.id == v.user_id,
        ledger=ledger,
        subscriptions=subscriptions.data,
        plans=await _plans(request),
        private_groups=await _private_groups(request, user.id),
        sessions=sessions.data,
        device=device,
        errors=all_errors,
        forms=forms or {},
    )


async def load_user(request: Request) -> UserRead | None:
    user_id = path_id(request, "user_id")
    if user_id is None:
        return None
    try:
        return await users_api.get_user(deps(request).api, user_id)
    except GatewayError:
        return None


@admin
async def user_detail(request: Request, v: Visitor) -> Response:
    user = await load_user(request)
    if user is None:
        return page(request, v, "errors/not_found.html", status=404)
    return await render_user(request, v, user)


routes = [
    Route("/admin/users", list_users, methods=["GET"]),
    Route("/admin/users/{user_id}", user_detail, methods=["GET"]),
]
