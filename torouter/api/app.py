"""The management JSON API (SPEC §16) as a FastAPI app serving full `/api/...` paths.

The process's ASGI dispatcher hands it every `/api/` path except the gateway's `/api/v1…` and
`/api/v1beta…`, unchanged. It owns no lifespan: the database, snapshot and ledger it is given
are started and stopped by the application that built them.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import Depends, FastAPI
from starlette.responses import HTMLResponse

from torouter.api import admin, auth_routes, me, payments
from torouter.api.deps import ApiDeps
from torouter.api.docs import docs_headers, render_docs
from torouter.api.errors import install_error_handlers
from torouter.api.middleware import BodyLimit, CatchAll, RequestId
from torouter.api.openapi import install_openapi
from torouter.api.session_auth import session_resolver
from torouter.api.text_guard import refuse_nul

__all__ = ["build_management_api"]

OPENAPI_URL = "/api/openapi.json"
DOCS_URL = "/api/docs"
MAX_BODY_BYTES = 1024 * 1024  # management bodies are small JSON documents

_DESCRIPTION = (
    "ToRouter's management JSON API. Errors use the OpenAI envelope "
    '`{"error": {"message", "type", "param", "code"}}`. Money is integer nano-USD '
    "(`*_nusd`, 1 USD = 10^9) with a `*_usd` string of 9 decimals beside it. Times are RFC "
    "3339 UTC with `Z`. Lists take `page` and `page_size` (20, max 100), usage logs a `cursor`. "
    "Admin routes take `Authorization: Bearer tra_…` admin tokens, or the session cookie of "
    "an admin. Signed-in calls use the `torouter_session` cookie set by `POST /api/auth/login`; "
    "unsafe methods must echo the `torouter_csrf` cookie in `X-CSRF-Token` (403 `CSRF_FAILED`)."
)


def _version() -> str:
    try:
        return version("torouter")
    except PackageNotFoundError:
        return "0"


def build_management_api(deps: ApiDeps) -> FastAPI:
    app = FastAPI(
        title="ToRouter management API",
        version=_version(),
        description=_DESCRIPTION,
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        telemetry={"tracing": False, "metrics": False, "logs": False},
        dependencies=[Depends(refuse_nul)],
    )
    if deps.accounts is not None and deps.session_resolver is None:
        deps.session_resolver = session_resolver(deps.accounts)
    app.state.deps = deps
    install_error_handlers(app)
    install_openapi(app)
    # Added innermost first: RequestId wraps CatchAll so the 500 also carries the id.
    lang = deps.settings.default_language
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES, default_language=lang)
    app.add_middleware(CatchAll, default_language=lang)
    app.add_middleware(RequestId)
    app.include_router(auth_routes.router)
    app.include_router(me.router)
    app.include_router(admin.router)
    app.include_router(payments.router)

    docs_html: list[str] = []

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs() -> HTMLResponse:
        if not docs_html:
            docs_html.append(render_docs(app.openapi()))
        return HTMLResponse(docs_html[0], headers=docs_headers())

    return app
