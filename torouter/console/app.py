"""Build the console: a Starlette app of server-rendered pages (R15), wrapped in the security
headers (R18.5) and request ids, served by the process dispatcher for the paths of
`paths.py`.

    build_console(api_deps, base_url=…) → ASGI app

It is given the management API's dependencies, so every page calls the same services,
repositories and snapshot as the JSON API. Errors are pages: a failed CSRF check is 403, an
unknown page 404, anything unexpected a 500 page with the request id and no traceback.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from torouter.api.deps import ApiDeps
from torouter.api.middleware import RequestId
from torouter.console import admin
from torouter.console.assets import Assets
from torouter.console.deps import ConsoleDeps
from torouter.console.forms import CsrfFailed, FormErrors, FormTooLarge
from torouter.console.pages import (
    auth,
    dashboard,
    keys,
    models,
    orders,
    payment_result,
    playground,
    profile,
    purchase,
    site,
    subscriptions,
)
from torouter.console.pages import billing as billing_page
from torouter.console.pages import usage as usage_page
from torouter.console.render import environment, page
from torouter.console.security import ASGIApp, SecurityHeaders
from torouter.console.visitor import visitor
from torouter.operations.context import OpsContext
from torouter.site_config import SiteConfig

__all__ = ["build_console"]


async def _csrf_failed(request: Request, exc: Exception) -> Response:
    v = await visitor(request)
    errors = FormErrors(v.t)
    errors.add(None, v.t("errors.csrf"))
    return page(request, v, "errors/problem.html", status=403, errors=errors)


async def _too_large(request: Request, exc: Exception) -> Response:
    v = await visitor(request)
    errors = FormErrors(v.t)
    errors.add(None, v.t("errors.code.REQUEST_TOO_LARGE"))
    return page(request, v, "errors/problem.html", status=413, errors=errors)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    v = await visitor(request)
    if exc.status_code == 405:
        errors = FormErrors(v.t)
        errors.add(None, v.t("errors.method"))
        return page(request, v, "errors/problem.html", status=405, errors=errors)
    return page(request, v, "errors/not_found.html", status=404)


def build_console(
    api: ApiDeps,
    *,
    base_url: str,
    ops: OpsContext | None = None,
    site_config: SiteConfig | None = None,
) -> ASGIApp:
    """`ops`: what this process knows about itself for the operations page (its node, its
    usage queue, its stores); without it the page shows the database check only.
    `site_config`: the admin-editable settings, made at start before stored values were
    applied (so it knows which ones the file set); by default made from `api.settings`."""
    templates = environment()
    templates.globals["admin_sections"] = admin.SECTIONS
    assert api.accounts is not None, "the console needs the account services"
    deps = ConsoleDeps.build(
        api,
        assets=Assets(),
        templates=templates,
        base_url=base_url,
        ops=ops or OpsContext(checks={"database": api.db.ping}),
        site_config=site_config or SiteConfig(api.settings, api.accounts.keyring),
    )
    app = Starlette(
        routes=[
            *site.routes,
            *auth.routes,
            *dashboard.routes,
            *keys.routes,
            *models.routes,
            *profile.routes,
            *playground.routes,
            *purchase.routes,
            *orders.routes,
            *payment_result.routes,
            *subscriptions.routes,
            *usage_page.routes,
            *billing_page.routes,
            *admin.routes,
        ],
        exception_handlers={
            CsrfFailed: _csrf_failed,
            FormTooLarge: _too_large,
            HTTPException: _http_error,
        },
    )
    app.state.deps = deps
    return RequestId(SecurityHeaders(app))
