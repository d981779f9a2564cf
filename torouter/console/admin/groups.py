"""`/admin/groups`: groups (R7.6) — billing type, multiplier, the ordered catalog, visibility,
status, default key limits — and the users granted a private group.

Create, edit and delete go through `/api/admin/groups`' handlers with its input models, so the
same names are refused and the same audit rows written; a managed group (R17.10) is shown
read-only with a note, its grants still editable.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api.admin import groups as api
from torouter.api.admin.groups import GroupCreate, GroupUpdate
from torouter.api.catalog_reads import GroupRead
from torouter.api.key_schemas import KeyLimitsRead
from torouter.api.pagination import PageParams
from torouter.console.admin.common import attempt, confirm_delete_page, deps, page_params, path_id
from torouter.console.forms import FormErrors, read_form
from torouter.console.guards import admin
from torouter.console.render import page, redirect
from torouter.console.visitor import Visitor
from torouter.errors import GatewayError, error
from torouter.storage.tables import group_grants, models, users

__all__ = ["LIMITS", "routes"]

LIMITS = (
    "quota_usd",
    "requests_5h",
    "requests_1d",
    "requests_7d",
    "rpm",
    "tpm",
    "max_concurrency",
    "budget_daily_usd",
    "budget_weekly_usd",
    "budget_monthly_usd",
)
FIELDS = (
    "name",
    "description",
    "billing_type",
    "price_multiplier",
    "visibility",
    "status",
    "models",
    *LIMITS,
)


def _body(form: dict[str, str]) -> dict[str, Any]:
    """Form text → the JSON API's body; the catalog is one model id per line, in order."""
    lines = form.get("models", "").replace(",", "\n").splitlines()
    return {
        "name": form.get("name", ""),
        "description": form.get("description", "").strip() or None,
        "billing_type": form.get("billing_type", ""),
        "price_multiplier": form.get("price_multiplier", "").strip(),
        "visibility": form.get("visibility", ""),
        "status": form.get("status", ""),
        "models": [line.strip() for line in lines if line.strip()],
        "default_key_limits": {name: form.get(name, "").strip() or None for name in LIMITS},
    }


def _usd(value: str | None) -> str:
    if value is None:
        return ""
    return value.rstrip("0").rstrip(".") or "0"


def _form_of(group: GroupRead) -> dict[str, str]:
    limits: KeyLimitsRead = group.default_key_limits
    out = {
        "name": group.name,
        "description": group.description or "",
        "billing_type": group.billing_type,
        "price_multiplier": group.price_multiplier,
        "visibility": group.visibility,
        "status": group.status,
        "models": "\n".join(group.models),
    }
    for name in LIMITS:
        if name.endswith("_usd"):
            out[name] = _usd(getattr(limits, name))
        else:
            value = getattr(limits, name)
            out[name] = "" if value is None else str(value)
    return out


async def _model_ids(request: Request) -> list[str]:
    async with deps(request).api.db.connect() as conn:
        rows = await conn.execute(select(models.c.id).order_by(models.c.sort_order, models.c.id))
        return list(rows.scalars())


async def _form_page(
    request: Request,
    v: Visitor,
    *,
    group: GroupRead | None,
    form: dict[str, str],
    errors: FormErrors,
    status: int = 200,
    grant_errors: FormErrors | None = None,
) -> Response:
    grants = None
    if group is not None and group.visibility == "private":
        grants = await api.list_grants(deps(request).api, group.id, page_params(request, 50))
    return page(
        request,
        v,
        "admin/groups/form.html",
        status=status,
        group=group,
        form=form,
        errors=errors,
        grant_errors=grant_errors or FormErrors(v.t),
        grants=grants,
        known_models=await _model_ids(request),
    )


async def _group(request: Request) -> GroupRead | None:
    group_id = path_id(request, "group_id")
    if group_id is None:
        return None
    try:
        return await api.get_group(deps(request).api, group_id)
    except GatewayError:
        return None


def _not_found(request: Request, v: Visitor) -> Response:
    return page(request, v, "errors/not_found.html", status=404)


@admin
async def list_groups(request: Request, v: Visitor) -> Response:
    found = await api.list_groups(deps(request).api, page_params(request, 50))
    async with deps(request).api.db.connect() as conn:
        granted = dict(
            (
                await conn.execute(
                    select(group_grants.c.group_id, func.count()).group_by(group_grants.c.group_id)
                )
            ).all()
        )
    return page(request, v, "admin/groups/list.html", groups=found, granted=granted)


@admin
async def new_group(request: Request, v: Visitor) -> Response:
    form = {
        "billing_type": "balance",
        "price_multiplier": "1",
        "visibility": "public",
        "status": "enabled",
    }
    return await _form_page(request, v, group=None, form=form, errors=FormErrors(v.t))


@admin
async def create_group(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    errors = FormErrors(v.t)
    a = deps(request).api
    created = await attempt(
        errors,
        FIELDS,
        lambda: api.create_group(a, v.principal, GroupCreate.model_validate(_body(form))),
    )
    if created is None:
        return await _form_page(request, v, group=None, form=form, errors=errors, status=400)
    return redirect(f"/admin/groups/{created.id}", notice="group_created")


@admin
async def edit_group(request: Request, v: Visitor) -> Response:
    group = await _group(request)
    if group is None:
        return _not_found(request, v)
    return await _form_page(request, v, group=group, form=_form_of(group), errors=FormErrors(v.t))


@admin
async def update_group(request: Request, v: Visitor) -> Response:
    group = await _group(request)
    if group is None:
        return _not_found(request, v)
    form = await read_form(request, v)
    errors = FormErrors(v.t)
    a = deps(request).api
    done = await attempt(
        errors,
        FIELDS,
        lambda: api.patch_group(a, v.principal, group.id, GroupUpdate.model_validate(_body(form))),
    )
    if done is None:
        status = 409 if errors.general and not errors.fields else 400
        return await _form_page(request, v, group=group, form=form, errors=errors, status=status)
    return redirect(f"/admin/groups/{group.id}", notice="group_saved")


@admin
async def grant_by_email(request: Request, v: Visitor) -> Response:
    """Grant the private group to the account with this email, or revoke a grant."""
    group = await _group(request)
    if group is None:
        return _not_found(request, v)
    form = await read_form(request, v)
    errors = FormErrors(v.t)
    a = deps(request).api

    async def act() -> str:
        if form.get("user_id"):
            user_id = form["user_id"].strip()
            if not user_id.isdigit():
                raise error("E16", "user_id: not an id", param="grant_email")
            await api.revoke(a, v.principal, group.id, int(user_id))
            return "grant_revoked"
        email = form.get("grant_email", "").strip().lower()
        async with a.db.connect() as conn:
            found = await conn.scalar(select(users.c.id).where(users.c.email == email))
        if found is None:
            raise error("E16", v.t("admin.groups.no_such_user"), param="grant_email")
        await api.grant(a, v.principal, group.id, int(found), Response())
        return "grant_added"

    notice = await attempt(errors, ("grant_email",), act)
    if notice is None:
        return await _form_page(
            request,
            v,
            group=group,
            form=_form_of(group),
            errors=FormErrors(v.t),
            grant_errors=errors,
            status=400,
        )
    return redirect(f"/admin/groups/{group.id}#grants", notice=notice)


def _confirm(request: Request, v: Visitor, group: GroupRead, errors: FormErrors) -> Response:
    return confirm_delete_page(
        request, v, kind="group", name=group.name, url=f"/admin/groups/{group.id}", errors=errors
    )


@admin
async def confirm_delete(request: Request, v: Visitor) -> Response:
    group = await _group(request)
    if group is None:
        return _not_found(request, v)
    return _confirm(request, v, group, FormErrors(v.t))


@admin
async def delete_group(request: Request, v: Visitor) -> Response:
    group = await _group(request)
    if group is None:
        return _not_found(request, v)
    await read_form(request, v)
    errors = FormErrors(v.t)
    a = deps(request).api
    if await attempt(errors, (), lambda: api.delete_group(a, v.principal, group.id)) is None:
        return _confirm(request, v, group, errors)
    return redirect("/admin/groups", notice="group_deleted")


async def all_groups(request: Request) -> list[GroupRead]:
    """Every group (for the selects of other pages), by name."""
    found = await api.list_groups(deps(request).api, PageParams(1, 100))
    return sorted(found.data, key=lambda g: g.name)


routes = [
    Route("/admin/groups", list_groups, methods=["GET"]),
    Route("/admin/groups", create_group, methods=["POST"]),
    Route("/admin/groups/new", new_group, methods=["GET"]),
    Route("/admin/groups/{group_id}", edit_group, methods=["GET"]),
    Route("/admin/groups/{group_id}", update_group, methods=["POST"]),
    Route("/admin/groups/{group_id}/grants", grant_by_email, methods=["POST"]),
    Route("/admin/groups/{group_id}/delete", confirm_delete, methods=["GET"]),
    Route("/admin/groups/{group_id}/delete", delete_group, methods=["POST"]),
]
