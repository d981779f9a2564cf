"""Rendering pages: one Jinja2 environment (autoescaped, strict), the context every page gets,
and the responses (HTML, redirects after a post, error pages)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from torouter.accounts.sessions import CSRF_COOKIE
from torouter.console.deps import ConsoleDeps
from torouter.console.security import FORM_ACTION_HEADER
from torouter.console.visitor import Visitor

__all__ = ["TEMPLATE_DIR", "environment", "page", "query_with", "redirect", "safe_next"]

TEMPLATE_DIR = Path(__file__).parent / "templates"


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals["urlencode"] = urlencode
    env.globals["query_with"] = query_with
    return env


def query_with(query: Mapping[str, str], **changes: object) -> str:
    """The page's query string with some parameters replaced (None or "" drops one): pager
    and filter links keep the rest of the filters (they live in the URL)."""
    values = {k: v for k, v in query.items() if k not in changes and k != "notice"}
    values.update({k: str(v) for k, v in changes.items() if v not in (None, "")})
    return urlencode(values)


def safe_next(value: str | None, default: str = "/dashboard") -> str:
    """A local path to return to after sign-in; anything else (another host, `//x`) → default."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


def _csrf_cookie(request: Request, response: Response, v: Visitor) -> None:
    if v.new_csrf_cookie:
        deps: ConsoleDeps = request.app.state.deps
        secure = deps.accounts.secure_cookies or request.url.scheme == "https"
        response.set_cookie(
            CSRF_COOKIE, v.csrf, path="/", secure=secure, httponly=False, samesite="lax"
        )


def page(
    request: Request,
    v: Visitor,
    template: str,
    *,
    status: int = 200,
    form_targets: Sequence[str] = (),
    **context: Any,
) -> HTMLResponse:
    """Render `template` with the page context; personal pages are never cached.
    `form_targets`: other origins this page's forms may redirect to (`checkout.py`)."""
    deps: ConsoleDeps = request.app.state.deps
    html = deps.templates.get_template(template).render(
        v=v,
        t=v.t,
        fmt=v.fmt,
        asset=deps.assets.url,
        path=request.url.path,
        query=request.query_params,
        base_url=deps.base_url,
        notice=_notice(request, v),
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["cache-control"] = "no-store"
    if form_targets:
        response.headers[FORM_ACTION_HEADER.decode()] = " ".join(form_targets)
    _csrf_cookie(request, response, v)
    return response


def _notice(request: Request, v: Visitor) -> str | None:
    """A one-line message after a redirect (`?notice=key_deleted`), from a fixed list."""
    key = request.query_params.get("notice")
    if key and key.isidentifier() and v.t.has(f"notice.{key}"):
        return v.t(f"notice.{key}")
    return None


def redirect(url: str, **query: str) -> RedirectResponse:
    """303 See Other: the browser follows with a GET (post/redirect/get)."""
    if query:
        url, hash_, fragment = url.partition("#")
        url = f"{url}{'&' if '?' in url else '?'}{urlencode(query)}{hash_}{fragment}"
    return RedirectResponse(url, status_code=303)
