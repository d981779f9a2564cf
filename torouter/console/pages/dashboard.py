"""`/dashboard`: balance and runway, keys at a glance, the onboarding checklist and quick
actions, window use against caps, the spend and requests chart of the last 7 or 30 days,
top models, recent activity and per-model health (R15.1, R15.4).

Everything but the checklist and the key counts is `/api/me/dashboard`'s own answer, called
in-process with the visitor as the principal: roll-ups and indexed reads only."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api.me.dashboard import WindowRead, get_dashboard
from torouter.console.deps import ConsoleDeps
from torouter.console.forms import read_form
from torouter.console.guards import signed_in
from torouter.console.onboarding import Checklist, load_checklist, mark_snippet_copied
from torouter.console.render import page, redirect, safe_next
from torouter.console.visitor import Visitor
from torouter.storage.tables import api_keys

__all__ = ["routes"]


async def _key_counts(deps: ConsoleDeps, user_id: int) -> dict[str, int]:
    c = api_keys.c
    async with deps.api.db.connect() as conn:
        rows = await conn.execute(
            select(c.status, func.count())
            .where(c.user_id == user_id, c.deleted_at.is_(None))
            .group_by(c.status)
        )
        counts = {status: int(n) for status, n in rows}
    return {"active": counts.get("active", 0), "disabled": counts.get("disabled", 0)}


@signed_in
async def dashboard(request: Request, v: Visitor) -> Response:
    deps: ConsoleDeps = request.app.state.deps
    # Three independent reads on pooled connections: their round trips overlap.
    board, checklist, keys = await asyncio.gather(
        get_dashboard(deps.api, v.principal),
        _checklist(deps, v.user_id),
        _key_counts(deps, v.user_id),
    )
    days = 7 if request.query_params.get("days") == "7" else 30
    return page(
        request,
        v,
        "dashboard.html",
        board=board,
        balance=board.balance,
        days=days,
        daily=board.daily[-days:],
        capped_keys=[k for k in board.keys if _capped(k.budgets) or _capped(k.windows)],
        capped=_capped,
        keys=keys,
        checklist=checklist,
    )


async def _checklist(deps: ConsoleDeps, user_id: int) -> Checklist:
    async with deps.api.db.connect() as conn:
        return await load_checklist(conn, user_id)


def _capped(windows: list[WindowRead]) -> list[WindowRead]:
    """The windows that have a cap: only they have something to measure against."""
    return [w for w in windows if w.limit]


@signed_in
async def checklist_fragment(request: Request, v: Visitor) -> Response:
    """The checklist alone: htmx polls it until the first request is seen (R15.4)."""
    deps: ConsoleDeps = request.app.state.deps
    async with deps.api.db.connect() as conn:
        checklist = await load_checklist(conn, v.user_id)
    return page(request, v, "partials/checklist.html", checklist=checklist)


@signed_in
async def snippet_copied(request: Request, v: Visitor) -> Response:
    """Step two of the checklist: the copy button posts here (htmx), or the "I have set it
    up" button of the "use this key" page (a plain form)."""
    form = await read_form(request, v)
    deps: ConsoleDeps = request.app.state.deps
    async with deps.api.db.begin() as conn:
        await mark_snippet_copied(conn, v.user_id)
    if request.headers.get("hx-request"):
        return Response(status_code=204)
    return redirect(safe_next(form.get("next")), notice="snippet_copied")


routes = [
    Route("/dashboard", dashboard, methods=["GET"]),
    Route("/dashboard/onboarding", checklist_fragment, methods=["GET"]),
    Route("/onboarding/copied", snippet_copied, methods=["POST"]),
]
