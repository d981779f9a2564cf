"""`/admin/plans`: the offers of subscription groups (R7.7): price, duration, day/week/month
caps, purchases per user, on sale or not. Through `/api/admin/plans`' handlers; a managed
plan (R17.10) is read-only with a note, and a plan in use is disabled rather than deleted.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api.admin import plans as api
from torouter.api.admin.plans import PlanCreate, PlanUpdate
from torouter.api.subscription_service import PlanRead
from torouter.console.admin.common import attempt, confirm_delete_page, deps, page_params, path_id
from torouter.console.admin.groups import all_groups
from torouter.console.forms import FormErrors, read_form
from torouter.console.guards import admin
from torouter.console.render import page, redirect
from torouter.console.visitor import Visitor
from torouter.errors import GatewayError

__all__ = ["routes"]

MONEY = ("price_usd", "daily_cap_usd", "weekly_cap_usd", "monthly_cap_usd")
FIELDS = ("name", "group_id", *MONEY, "duration_days", "max_per_user", "enabled")


CAPS = ("daily_cap_usd", "weekly_cap_usd", "monthly_cap_usd")


def _body(form: dict[str, str]) -> dict[str, Any]:
    """Form text → the JSON API's body: a blank cap is no cap (0); a blank duration or
    purchase limit is left out (the default when creating, unchanged when editing)."""
    out: dict[str, Any] = {name: form.get(name, "").strip() for name in FIELDS}
    out["enabled"] = form.get("enabled") == "on"
    for name in CAPS:
        out[name] = out[name] or "0"
    for name in ("duration_days", "max_per_user"):
        if not out[name]:
            del out[name]
    return out


def _usd(text: str) -> str:
    return text.rstrip("0").rstrip(".") or "0" if "." in text else text


def _form_of(plan: PlanRead) -> dict[str, str]:
    out = {
        "name": plan.name,
        "group_id": str(plan.group_id),
        "duration_days": str(plan.duration_days),
        "max_per_user": str(plan.max_per_user),
        "enabled": "on" if plan.enabled else "",
    }
    for name in MONEY:
        out[name] = _usd(getattr(plan, name))
    return out


async def _form_page(
    request: Request,
    v: Visitor,
    *,
    plan: PlanRead | None,
    form: dict[str, str],
    errors: FormErrors,
    status: int = 200,
) -> Response:
    groups = [g for g in await all_groups(request) if g.billing_type == "subscription"]
    return page(
        request,
        v,
        "admin/plans/form.html",
        status=status,
        plan=plan,
        form=form,
        errors=errors,
        groups=groups,
    )


async def _plan(request: Request) -> PlanRead | None:
    plan_id = path_id(request, "plan_id")
    if plan_id is None:
        return None
    try:
        return await api.get_plan(deps(request).api, plan_id)
    except GatewayError:
        return None


def _not_found(request: Request, v: Visitor) -> Response:
    return page(request, v, "errors/not_found.html", status=404)


def _status(errors: FormErrors) -> int:
    return 409 if errors.general and not errors.fields else 400


@admin
async def list_plans(request: Request, v: Visitor) -> Response:
    found = await api.list_plans(deps(request).api, page_params(request, 50))
    return page(request, v, "admin/plans/list.html", plans=found)


@admin
async def new_plan(request: Request, v: Visitor) -> Response:
    form = {"duration_days": "30", "max_per_user": "0", "enabled": "on"}
    return await _form_page(request, v, plan=None, form=form, errors=FormErrors(v.t))


@admin
async def create_plan(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    errors = FormErrors(v.t)
    a = deps(request).api
    created = await attempt(
        errors,
        FIELDS,
        lambda: api.create_plan(a, v.principal, PlanCreate.model_validate(_body(form))),
    )
    if created is None:
        return await _form_page(
            request, v, plan=None, form=form, errors=errors, status=_status(errors)
        )
    return redirect(f"/admin/plans/{created.id}", notice="plan_created")


@admin
async def edit_plan(request: Request, v: Visitor) -> Response:
    plan = await _plan(request)
    if plan is None:
        return _not_found(request, v)
    return await _form_page(request, v, plan=plan, form=_form_of(plan), errors=FormErrors(v.t))


@admin
async def update_plan(request: Request, v: Visitor) -> Response:
    plan = await _plan(request)
    if plan is None:
        return _not_found(request, v)
    form = await read_form(request, v)
    errors = FormErrors(v.t)
    a = deps(request).api
    done = await attempt(
        errors,
        FIELDS,
        lambda: api.patch_plan(a, v.principal, plan.id, PlanUpdate.model_validate(_body(form))),
    )
    if done is None:
        return await _form_page(
            request, v, plan=plan, form=form, errors=errors, status=_status(errors)
        )
    return redirect(f"/admin/plans/{plan.id}", notice="plan_saved")


def _confirm(request: Request, v: Visitor, plan: PlanRead, errors: FormErrors) -> Response:
    return confirm_delete_page(
        request, v, kind="plan", name=plan.name, url=f"/admin/plans/{plan.id}", errors=errors
    )


@admin
async def confirm_delete(request: Request, v: Visitor) -> Response:
    plan = await _plan(request)
    if plan is None:
        return _not_found(request, v)
    return _confirm(request, v, plan, FormErrors(v.t))


@admin
async def delete_plan(request: Request, v: Visitor) -> Response:
    plan = await _plan(request)
    if plan is None:
        return _not_found(request, v)
    await read_form(request, v)
    errors = FormErrors(v.t)
    a = deps(request).api
    if await attempt(errors, (), lambda: api.delete_plan(a, v.principal, plan.id)) is None:
        return _confirm(request, v, plan, errors)
    return redirect("/admin/plans", notice="plan_deleted")


routes = [
    Route("/admin/plans", list_plans, methods=["GET"]),
    Route("/admin/plans", create_plan, methods=["POST"]),
    Route("/admin/plans/new", new_plan, methods=["GET"]),
    Route("/admin/plans/{plan_id}", edit_plan, methods=["GET"]),
    Route("/admin/plans/{plan_id}", update_plan, methods=["POST"]),
    Route("/admin/plans/{plan_id}/delete", confirm_delete, methods=["GET"]),
    Route("/admin/plans/{plan_id}/delete", delete_plan, methods=["POST"]),
]
