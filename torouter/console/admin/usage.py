"""`/admin/usage`: every user's requests (R11.1, R11.4, R15.2) with the admin filters (user,
key, channel, model, outcome, status, request id, days) and columns (user, channel, attempts),
summary cards for the same filters, 50 rows a page by cursor; `/admin/usage/{request_id}`:
one request with every upstream attempt and its channel, the billing breakdown and timings;
`/admin/usage/export.csv`: the filtered rows as CSV with the admin columns.

Everything is read through `/api/admin/usage`'s handlers (the same filters, cursor, range
rules and CSV), so the page and the API never disagree. Nothing here can show a prompt or a
completion: the usage log has none.
"""

from __future__ import annotations

from typing import Any, get_args

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api.admin import usage as api
from torouter.api.admin.usage import AdminFilters
from torouter.api.me.usage import Outcome
from torouter.console.admin.common import (
    attempt,
    deps,
    query_choice,
    query_date,
    query_text,
    user_of,
)
from torouter.console.forms import FormErrors
from torouter.console.guards import admin
from torouter.console.render import page
from torouter.console.visitor import Visitor
from torouter.errors import GatewayError
from torouter.storage.tables import users

__all__ = ["routes"]

OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
PAGE_SIZE = 50
_KNOWN = ("user", "key", "channel", "model", "outcome", "status", "request_id", "start", "end")


def _small_int(raw: str, name: str, errors: FormErrors, low: int, high: int) -> int | None:
    if not raw:
        return None
    if raw.isascii() and raw.isdigit() and len(raw) < 13 and low <= int(raw) <= high:
        return int(raw)
    errors.add(name, errors.t("admin.usage.bad_number", low=low, high=high))
    return None


async def _filters(request: Request, errors: FormErrors) -> tuple[dict[str, Any], AdminFilters]:
    text = {name: query_text(request, name, 200) for name in _KNOWN}
    user_id = await user_of(request, text["user"], errors, "user")
    channel = _small_int(text["channel"], "channel", errors, 1, 10**12)
    f = AdminFilters(
        user_id=user_id,
        key_id=_small_int(text["key"], "key", errors, 1, 10**12),
        channel_id=channel,
        model=text["model"] or None,
        outcome=query_choice(request, "outcome", OUTCOMES),
        status=_small_int(text["status"], "status", errors, 100, 599),
    )
    days = {
        "start_date": query_date(request, "start", errors),
        "end_date": query_date(request, "end", errors),
    }
    return {**text, **days}, f


@admin
async def usage_page(request: Request, v: Visitor) -> Response:
    a = deps(request).api
    errors = FormErrors(v.t)
    text, f = await _filters(request, errors)
    cursor = query_text(request, "cursor", 80) or None
    rows = summary = None
    if not errors:

        async def read() -> tuple[Any, Any]:
            start, end = text["start_date"], text["end_date"]
            found = await api.list_usage(
                a,
                f,
                cursor=cursor,
                page_size=PAGE_SIZE,
                request_id=text["request_id"] or None,
                start=start,
                end=end,
                since=None,
                until=None,
            )
            return found, await api.get_summary(a, f, start, end)

        got = await attempt(errors, _KNOWN, read)  # a bad cursor: at the top
        if got is not None:
            rows, summary = got
    snap = a.snapshot.current
    channels = sorted(((c.id, c.name) for c in snap.channels.values()), key=lambda c: c[1])
    names = dict(channels)
    emails = await _emails(request, {r.user_id for r in rows.data if r.user_id} if rows else set())
    return page(
        request,
        v,
        "admin/usage/list.html",
        status=400 if errors else 200,
        rows=rows,
        summary=summary,
        filters=text,
        outcomes=OUTCOMES,
        channels=channels,
        channel_names=names,
        emails=emails,
        errors=errors,
        csv_query=_csv_query(text),
    )


def _csv_query(text: dict[str, Any]) -> dict[str, str]:
    """The export's filters: the page's own, less the cursor and the request id."""
    names = ("user", "key", "channel", "model", "outcome", "status", "start", "end")
    return {k: str(text[k]) for k in names if text[k]}


async def _emails(request: Request, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    async with deps(request).api.db.connect() as conn:
        q = select(users.c.id, users.c.email).where(users.c.id.in_(ids))
        return {r.id: r.email for r in await conn.execute(q)}


@admin
async def usage_detail(request: Request, v: Visitor) -> Response:
    request_id = str(request.path_params.get("request_id", ""))
    if not (0 < len(request_id) <= 128 and request_id.isprintable()):
        return page(request, v, "errors/not_found.html", status=404)
    try:
        found = await api.get_usage(deps(request).api, request_id)
    except GatewayError as exc:
        if exc.status != 404:
            raise
        return page(request, v, "errors/not_found.html", status=404)
    return page(request, v, "admin/usage/detail.html", d=found)


@admin
async def usage_csv(request: Request, v: Visitor) -> Response:
    """The same filters as the page; a bad one is the page with the error, not a file."""
    a = deps(request).api
    errors = FormErrors(v.t)
    text, f = await _filters(request, errors)
    if not errors:
        try:
            return await api.export_csv(a, f, text["start_date"], text["end_date"])
        except GatewayError as exc:
            errors.from_error(exc, _KNOWN)
    return await usage_page(request)


routes = [
    Route("/admin/usage", usage_page, methods=["GET"]),
    Route("/admin/usage/export.csv", usage_csv, methods=["GET"]),
    Route("/admin/usage/{request_id}", usage_detail, methods=["GET"]),
]
