"""`/admin/audit`: who did what to which object, newest first, filtered by actor, action and
target (the filters live in the URL), 50 a page. Read through `/api/admin/audit`'s handler;
the action filter offers the actions that occur."""

from __future__ import annotations

import re

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api.admin import audit as api
from torouter.console.admin.common import deps, page_params, query_text
from torouter.console.guards import admin
from torouter.console.render import page
from torouter.console.visitor import Visitor
from torouter.storage.tables import audit_log

__all__ = ["link_of", "routes"]

# Targets and actors that have a page: `user:5`, `channel:2`…
_PAGES = {
    "user": "/admin/users/{}",
    "group": "/admin/groups/{}",
    "plan": "/admin/plans/{}",
    "channel": "/admin/channels/{}",
    "model": "/admin/models/{}",
}
_REF = re.compile(r"^(user|group|plan|channel|model):(.+)$")


def link_of(ref: str | None) -> str | None:
    """The admin page of an audit reference, if it has one."""
    match = _REF.match(ref or "")
    if match is None:
        return None
    kind, ident = match.groups()
    if kind != "model" and not ident.isdigit():
        return None
    return _PAGES[kind].format(ident)


@admin
async def audit_page(request: Request, v: Visitor) -> Response:
    a = deps(request).api
    filters = {
        "actor": query_text(request, "actor", 320),
        "action": query_text(request, "action", 100),
        "target": query_text(request, "target", 200),
    }
    found = await api.list_audit(
        a,
        page_params(request, 50),
        action=filters["action"] or None,
        actor=filters["actor"] or None,
        target=filters["target"] or None,
    )
    async with a.db.connect() as conn:
        actions = sorted((await conn.execute(select(audit_log.c.action).distinct())).scalars())
    return page(
        request,
        v,
        "admin/audit.html",
        entries=found,
        filters=filters,
        actions=actions,
        link_of=link_of,
    )


routes = [Route("/admin/audit", audit_page, methods=["GET"])]
