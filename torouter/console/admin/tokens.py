"""`/admin/tokens`: admin tokens for scripts (R16.2): create (the token is shown once, on the
answer page, never again) and revoke. Through `/api/admin/tokens`' handlers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api.admin import tokens as api
from torouter.api.admin.tokens import TokenCreate, TokenCreated
from torouter.console.admin.common import attempt, deps, page_params, path_id
from torouter.console.forms import FormErrors, read_form
from torouter.console.guards import admin
from torouter.console.render import page, redirect
from torouter.console.visitor import Visitor

__all__ = ["routes"]


async def _list(
    request: Request,
    v: Visitor,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    found = await api.list_tokens(deps(request).api, page_params(request, 50))
    return page(
        request,
        v,
        "admin/tokens.html",
        status=status,
        tokens=found,
        errors=errors or FormErrors(v.t),
        form=form or {"as_me": "on"},
    )


@admin
async def list_tokens(request: Request, v: Visitor) -> Response:
    return await _list(request, v)


@admin
async def create_token(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    errors = FormErrors(v.t)
    a = deps(request).api

    async def create() -> TokenCreated:
        body = TokenCreate.model_validate(
            {"name": form.get("name", ""), "user_id": v.user_id if form.get("as_me") else None}
        )
        return await api.create_token(a, v.principal, body)

    created = await attempt(errors, ("name",), create)
    if created is None:
        return await _list(request, v, status=400, errors=errors, form=form)
    # The one time the token exists in the clear: rendered here, never after a redirect.
    return page(request, v, "admin/token_created.html", token=created)


@admin
async def revoke_token(request: Request, v: Visitor) -> Response:
    token_id = path_id(request, "token_id")
    await read_form(request, v)
    errors = FormErrors(v.t)
    a = deps(request).api
    if (
        token_id is None
        or await attempt(errors, (), lambda: api.revoke_token(a, v.principal, token_id)) is None
    ):
        return await _list(request, v, status=404, errors=errors)
    return redirect("/admin/tokens", notice="token_revoked")


routes = [
    Route("/admin/tokens", list_tokens, methods=["GET"]),
    Route("/admin/tokens", create_token, methods=["POST"]),
    Route("/admin/tokens/{token_id}/revoke", revoke_token, methods=["POST"]),
]
