"""`/usage`: the user's usage log with filters, the summary cards, the per-model table with
its totals row, the daily chart and the CSV link; `/usage/{request_id}`: one request in
detail (R11.4–R11.6, R15.1, R15.4).

Every number comes from the JSON API's own functions (`api/me/usage.py`), called in-process
with the visitor as the principal: the log is a keyset page of the (user, created_at)
index, the summary and the daily series come from the roll-ups, so the page never scans
`usage_logs`. Another user's request id is the 404 page, as it is a 404 for the API.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote, urlencode

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api.me import usage as usage_api
from torouter.api.usage_schemas import DailyPointRead, SummaryRead
from torouter.api.usage_views import daily_read, range_of
from torouter.console.deps import ConsoleDeps
from torouter.console.forms import FormErrors
from torouter.console.guards import verified
from torouter.console.render import page, redirect
from torouter.console.usage_filters import OUTCOMES, UsageFilters, usage_filters
from torouter.console.visitor import Visitor
from torouter.errors import GatewayError
from torouter.storage.tables import api_keys
from torouter.usage import summaries
from torouter.usage.filters import UsageFilter

__all__ = ["CHART_MAX_DAYS", "routes"]

PAGE_SIZE = 20
# A longer range still lists and sums; only the per-day chart and table are left out (a year
# of days is no chart to read on a phone).
CHART_MAX_DAYS = 92


def _deps(request: Request) -> ConsoleDeps:
    deps: ConsoleDeps = request.app.state.deps
    return deps


async def _my_keys(deps: ConsoleDeps, v: Visitor) -> list[tuple[int, str]]:
    """The user's keys for the key filter (deleted ones too: their rows are still listed)."""
    c = api_keys.c
    async with deps.api.db.connect() as conn:
        rows = await conn.execute(
            select(c.id, c.name, c.deleted_at).where(c.user_id == v.user_id).order_by(c.id)
        )
        return [
            (int(r.id), v.t("usage.deleted_key", name=r.name) if r.deleted_at else str(r.name))
            for r in rows
        ]


async def _daily(deps: ConsoleDeps, user_id: int, f: UsageFilters) -> list[DailyPointRead] | None:
    """Spend and requests per day of the range, from the daily roll-ups (as `/daily` reads
    them, for any range up to `CHART_MAX_DAYS`); None for a longer range."""
    days = range_of(deps.api, f.start, f.end)
    if (days.last - days.first).days + 1 > CHART_MAX_DAYS:
        return None
    mine = UsageFilter(user_id=user_id, model=f.model, key_id=f.key_id)
    async with deps.api.db.connect() as conn:
        points = await summaries.daily(conn, mine, days)
    return daily_read(points).data


def _errors(v: Visitor, f: UsageFilters) -> FormErrors:
    errors = FormErrors(v.t)
    for name, key in f.errors.items():
        errors.add(name, v.t(key))
    return errors


@verified
async def usage_page(request: Request, v: Visitor) -> Response:
    f = usage_filters(request.query_params)
    if f.request_id and not f.errors:
        return redirect(f"/usage/{quote(f.request_id, safe='')}")
    deps = _deps(request)
    errors = _errors(v, f)
    principal = v.principal
    try:
        found = await usage_api.list_logs(
            deps.api,
            principal,
            cursor=f.cursor,
            page_size=PAGE_SIZE,
            start=f.start,
            end=f.end,
            model=f.model,
            key_id=f.key_id,
            outcome=f.outcome,
        )
    except GatewayError as exc:  # a cursor that is not ours: the first page instead
        errors.from_error(exc, ())
        f.cursor = None
        found = await usage_api.list_logs(
            deps.api,
            principal,
            page_size=PAGE_SIZE,
            start=f.start,
            end=f.end,
            model=f.model,
            key_id=f.key_id,
            outcome=f.outcome,
        )
    summary: SummaryRead = await usage_api.get_summary(
        deps.api, principal, start=f.start, end=f.end, model=f.model, key_id=f.key_id
    )
    daily = await _daily(deps, v.user_id, f)
    models = sorted(
        {m.model for m in summary.models if m.model}.union([f.model] if f.model else [])
    )
    return page(
        request,
        v,
        "usage/list.html",
        status=400 if f.errors else 200,
        f=f,
        errors=errors,
        rows=found.data,
        next_query=urlencode(f.query(cursor=found.next_cursor)) if found.next_cursor else None,
        first_query=urlencode(f.query()) if f.cursor else None,
        csv_url="/api/me/usage/export.csv" + (f"?{urlencode(f.query())}" if f.query() else ""),
        summary=summary,
        daily=daily,
        chart_max_days=CHART_MAX_DAYS,
        model_choices=[("", v.t("usage.all_models")), *((m, m) for m in models)],
        key_choices=[("", v.t("usage.all_keys")), *await _my_keys(deps, v)],
        outcome_choices=[
            ("", v.t("usage.all_outcomes")),
            *((o, v.t(f"usage.outcome.{o}")) for o in OUTCOMES),
        ],
        today=v.now.astimezone(deps.tz).date(),
    )


@verified
async def request_detail(request: Request, v: Visitor) -> Response:
    request_id = request.path_params["request_id"]
    deps = _deps(request)
    if len(request_id) > 128:
        return page(request, v, "errors/not_found.html", status=404)
    try:
        detail = await usage_api.get_log(deps.api, v.principal, request_id)
    except GatewayError as exc:
        if exc.status == 404:
            return page(request, v, "errors/not_found.html", status=404)
        raise
    started: dt.datetime = detail.timings.started_at
    return page(
        request,
        v,
        "usage/detail.html",
        d=detail,
        r=detail.request,
        day=started.astimezone(deps.tz).date(),
    )


routes = [
    Route("/usage", usage_page, methods=["GET"]),
    Route("/usage/{request_id:path}", request_detail, methods=["GET"]),
]
