"""`/keys`: the user's API keys (§13): list, create (shown once), detail, edit, enable or
disable, delete, and the "use this key" settings (R15.4).

Every change goes through `api/key_service.py` with the JSON API's own input models
(`KeyCreate`, `KeyUpdate`) and is published to the gateway's snapshot before the redirect,
so the very next request sees it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.engine import RowMapping
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api import key_service
from torouter.api.changes import publish
from torouter.api.key_schemas import KeyCreate, KeyRead, KeyUpdate
from torouter.api.me.catalog import visible_groups
from torouter.api.model_catalog import user_models
from torouter.console.deps import ConsoleDeps
from torouter.console.forms import FormErrors, read_form
from torouter.console.guards import verified
from torouter.console.onboarding import load_checklist
from torouter.console.render import page, redirect
from torouter.console.snippets import pick_models, snippets
from torouter.console.visitor import Visitor
from torouter.errors import GatewayError
from torouter.storage.tables import api_keys, groups

__all__ = ["FIELDS", "routes"]

# The form's fields, in the order of `KeyCreate` (R13.1).
LIMITS = ("requests_5h", "requests_1d", "requests_7d", "rpm", "tpm", "max_concurrency")
BUDGETS = ("budget_daily_usd", "budget_weekly_usd", "budget_monthly_usd")
LISTS = ("ip_whitelist", "ip_blacklist", "model_whitelist")
FIELDS = ("name", "group_id", "quota_usd", "expires_in_days", *LIMITS, *BUDGETS, *LISTS)


def _deps(request: Request) -> ConsoleDeps:
    deps: ConsoleDeps = request.app.state.deps
    return deps


async def _groups(deps: ConsoleDeps, user_id: int) -> list[RowMapping]:
    stmt = select(groups).where(visible_groups(user_id)).order_by(groups.c.id)
    async with deps.api.db.connect() as conn:
        return list((await conn.execute(stmt)).mappings())


def _input(form: dict[str, str]) -> dict[str, Any]:
    """Form text → the JSON API's body. Blank limits inherit the group's default (null); a
    blank expiry is not sent: never on a new key, unchanged on an edit."""
    data: dict[str, Any] = {name: form.get(name, "").strip() for name in FIELDS}
    if not data["expires_in_days"]:
        del data["expires_in_days"]
    data["group_id"] = data["group_id"] or None
    for name in LISTS:  # line breaks separate IP entries: keep them
        data[name] = form.get(name, "")
    return data


def _form_of(key: KeyRead) -> dict[str, str]:
    """A key's values as the edit form shows them."""
    out: dict[str, str] = {"name": key.name, "group_id": str(key.group_id)}
    for name in LIMITS:
        value = getattr(key, name)
        out[name] = "" if value is None else str(value)
    out["quota_usd"] = _usd_text(key.quota_usd)
    for name in BUDGETS:
        out[name] = _usd_text(getattr(key, name))
    out["ip_whitelist"] = "\n".join(key.ip_whitelist)
    out["ip_blacklist"] = "\n".join(key.ip_blacklist)
    out["model_whitelist"] = ", ".join(key.model_whitelist)
    out["expires_in_days"] = ""
    return out


def _usd_text(value: str | None) -> str:
    if value is None:
        return ""
    text = value.rstrip("0").rstrip(".")
    return text or "0"


async def _owned(request: Request, v: Visitor) -> RowMapping | None:
    try:
        key_id = int(request.path_params["key_id"])
    except ValueError:
        return None
    deps = _deps(request)
    async with deps.api.db.connect() as conn:
        try:
            return await key_service.owned_key(conn, key_id, v.principal)
        except GatewayError:
            return None  # someone else's key looks like no key at all


async def _read(deps: ConsoleDeps, row: RowMapping, *, spend: bool = False) -> KeyRead:
    """The key as the JSON API reads it; `spend` adds today's and 30 days' spend, a query
    of the usage log that pages showing no spend (edit, use, delete) skip."""
    if not spend:
        return KeyRead.build(row)
    async with deps.api.db.connect() as conn:
        (read,) = await key_service.key_reads(deps.api, conn, [row])
    return read


def _not_found(request: Request, v: Visitor) -> Response:
    return page(request, v, "errors/not_found.html", status=404)


@verified
async def list_keys(request: Request, v: Visitor) -> Response:
    deps = _deps(request)
    c = api_keys.c
    stmt = key_service.key_select().where(c.user_id == v.user_id, c.deleted_at.is_(None))
    async with deps.api.db.connect() as conn:
        rows = list((await conn.execute(stmt.order_by(c.id))).mappings())
        reads = await key_service.key_reads(deps.api, conn, rows)
    return page(request, v, "keys/list.html", keys=reads)


@verified
async def new_key(request: Request, v: Visitor) -> Response:
    deps = _deps(request)
    options = await _groups(deps, v.user_id)
    form = {"group_id": str(options[0]["id"])} if options else {}
    return page(
        request, v, "keys/form.html", key=None, groups=options, form=form, errors=FormErrors(v.t)
    )


@verified
async def create_key(request: Request, v: Visitor) -> Response:
    deps = _deps(request)
    form = await read_form(request, v)
    errors = FormErrors(v.t)
    try:
        body = KeyCreate.model_validate(_input(form))
        async with deps.api.db.begin() as conn:
            key_id, secret = await key_service.create_key(
                deps.api, conn, user_id=v.user_id, body=body
            )
            row = await key_service.written_key(conn, key_id)
        await publish(deps.api)
    except ValidationError as exc:
        errors.from_validation(exc, FIELDS)
    except GatewayError as exc:
        errors.from_error(exc, (*FIELDS, "group"))
    else:
        # The one time the key exists in the clear: rendered here, not after a redirect,
        # and never cached (R13.1).
        read = await _read(deps, row)
        return page(
            request,
            v,
            "keys/created.html",
            key=read,
            secret=secret,
            snippets=await _snippets(deps, v, read, secret),
        )
    options = await _groups(deps, v.user_id)
    return page(
        request,
        v,
        "keys/form.html",
        status=400,
        key=None,
        groups=options,
        form=form,
        errors=errors,
    )


async def _snippets(deps: ConsoleDeps, v: Visitor, key: KeyRead, secret: str) -> list[Any]:
    async with deps.api.db.connect() as conn:
        catalog = await user_models(conn, v.user_id, group_id=key.group_id)
    allowed = set(key.model_whitelist)
    chat = [
        (m.id, m.vendor)
        for m in catalog
        if "chat" in m.endpoints and (not allowed or m.id in allowed)
    ]
    return snippets(deps.base_url, secret, pick_models(chat))


@verified
async def key_detail(request: Request, v: Visitor) -> Response:
    row = await _owned(request, v)
    if row is None:
        return _not_found(request, v)
    deps = _deps(request)
    async with deps.api.db.connect() as conn:
        detail = await key_service.key_detail(deps.api, conn, row)
    return page(request, v, "keys/detail.html", key=detail)


@verified
async def edit_key(request: Request, v: Visitor) -> Response:
    row = await _owned(request, v)
    if row is None:
        return _not_found(request, v)
    deps = _deps(request)
    read = await _read(deps, row)
    return page(
        request,
        v,
        "keys/form.html",
        key=read,
        groups=await _groups(deps, v.user_id),
        form=_form_of(read),
        errors=FormErrors(v.t),
    )


@verified
async def update_key(request: Request, v: Visitor) -> Response:
    row = await _owned(request, v)
    if row is None:
        return _not_found(request, v)
    deps = _deps(request)
    form = await read_form(request, v)
    errors = FormErrors(v.t)
    try:
        body = KeyUpdate.model_validate(_input(form))
        async with deps.api.db.begin() as conn:
            await key_service.update_key(deps.api, conn, row, body)
        await publish(deps.api)
    except ValidationError as exc:
        errors.from_validation(exc, FIELDS)
    except GatewayError as exc:
        errors.from_error(exc, (*FIELDS, "group"))
    else:
        return redirect(f"/keys/{row['id']}", notice="key_saved")
    return page(
        request,
        v,
        "keys/form.html",
        status=400,
        key=await _read(deps, row),
        groups=await _groups(deps, v.user_id),
        form=form,
        errors=errors,
    )


@verified
async def toggle_key(request: Request, v: Visitor) -> Response:
    row = await _owned(request, v)
    if row is None:
        return _not_found(request, v)
    deps = _deps(request)
    await read_form(request, v)
    status = "disabled" if row["status"] == "active" else "active"
    try:
        async with deps.api.db.begin() as conn:
            await key_service.update_key(
                deps.api, conn, row, KeyUpdate.model_validate({"status": status})
            )
        await publish(deps.api)
    except GatewayError as exc:
        errors = FormErrors(v.t).from_error(exc)
        return page(request, v, "errors/problem.html", status=exc.status, errors=errors)
    notice = "key_disabled" if status == "disabled" else "key_enabled"
    return redirect("/keys", notice=notice)


@verified
async def confirm_delete(request: Request, v: Visitor) -> Response:
    row = await _owned(request, v)
    if row is None:
        return _not_found(request, v)
    return page(request, v, "keys/delete.html", key=await _read(_deps(request), row))


@verified
async def delete_key(request: Request, v: Visitor) -> Response:
    row = await _owned(request, v)
    if row is None:
        return _not_found(request, v)
    deps = _deps(request)
    await read_form(request, v)
    try:
        async with deps.api.db.begin() as conn:
            await key_service.delete_key(conn, row)
        await publish(deps.api)
    except GatewayError as exc:
        errors = FormErrors(v.t).from_error(exc)
        return page(request, v, "errors/problem.html", status=exc.status, errors=errors)
    return redirect("/keys", notice="key_deleted")


@verified
async def use_key(request: Request, v: Visitor) -> Response:
    """Client settings for a key whose plaintext is gone: the snippets name the variable."""
    row = await _owned(request, v)
    if row is None:
        return _not_found(request, v)
    deps = _deps(request)
    read = await _read(deps, row)
    async with deps.api.db.connect() as conn:
        checklist = await load_checklist(conn, v.user_id)
    placeholder = v.t("keys.use.placeholder", mask=read.mask)
    return page(
        request,
        v,
        "keys/use.html",
        key=read,
        snippets=await _snippets(deps, v, read, placeholder),
        checklist=checklist,
    )


routes = [
    Route("/keys", list_keys, methods=["GET"]),
    Route("/keys", create_key, methods=["POST"]),
    Route("/keys/new", new_key, methods=["GET"]),
    Route("/keys/{key_id}", key_detail, methods=["GET"]),
    Route("/keys/{key_id}/edit", edit_key, methods=["GET"]),
    Route("/keys/{key_id}/edit", update_key, methods=["POST"]),
    Route("/keys/{key_id}/toggle", toggle_key, methods=["POST"]),
    Route("/keys/{key_id}/delete", confirm_delete, methods=["GET"]),
    Route("/keys/{key_id}/delete", delete_key, methods=["POST"]),
    Route("/keys/{key_id}/use", use_key, methods=["GET"]),
]
