"""`/admin/operations`: the deployment's own health on one page (ToRouter extension).

- the stores: the database (kind, answer time, schema revision against the code's) and
  Redis when scaled out;
- the nodes seen: each serving process's version, start and last heartbeat (`operations/
  nodes.py`), with the usage rows its queue held at that beat; a node silent for a minute is
  shown as gone;
- this node: its usage queue now, against its capacity (R11.2: full means E20);
- the background jobs: last run, where, result, how many runs and failures;
- the channels: how many are enabled, disabled, auto-disabled or cooling, and which.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.console.admin.channels import health_of
from torouter.console.admin.common import deps
from torouter.console.guards import admin
from torouter.console.render import page
from torouter.console.visitor import Visitor
from torouter.operations.checks import check_stores
from torouter.operations.jobs import list_jobs
from torouter.operations.nodes import STALE_AFTER, list_nodes
from torouter.storage import migrate

__all__ = ["routes"]


@cache
def _head() -> str:
    return migrate.head_revision()  # the scripts do not change while the process runs


def _channel_states(request: Request) -> dict[str, Any]:
    snap = deps(request).api.snapshot.current
    counts = {"enabled": 0, "disabled": 0, "auto_disabled": 0, "cooling": 0}
    attention = []
    for ch in sorted(snap.channels.values(), key=lambda c: c.name):
        view = health_of(request, ch.id)
        status = view["status"] if view else ch.status
        counts[str(status)] = counts.get(str(status), 0) + 1
        cooling = bool(view and view["cooldowns"])
        counts["cooling"] += cooling
        if status != "enabled" or cooling:
            attention.append({"id": ch.id, "name": ch.name, "status": status, "health": view})
    return {"counts": counts, "attention": attention, "total": len(snap.channels)}


@admin
async def operations(request: Request, v: Visitor) -> Response:
    d = deps(request)
    ops = d.ops
    stores = {s.name: s for s in await check_stores(ops.checks)}
    now = dt.datetime.now(dt.UTC)
    try:
        revision = await migrate.current_revision(d.api.db)
    except Exception:  # the database is down: the store check says so
        revision = None
    async with d.api.db.connect() as conn:
        nodes = await list_nodes(conn, now)
        jobs = await list_jobs(conn)
    return page(
        request,
        v,
        "admin/operations.html",
        stores=stores,
        database_kind="sqlite" if d.api.db.is_sqlite else "postgresql",
        revision=revision,
        head=_head(),
        nodes=nodes,
        this_node=ops.node.id if ops.node else None,
        stale_s=int(STALE_AFTER.total_seconds()),
        queue_depth=ops.queue_depth() if ops.queue_depth else None,
        queue_size=ops.queue_size,
        redis=ops.redis,
        jobs=jobs,
        channels=_channel_states(request),
    )


routes = [Route("/admin/operations", operations, methods=["GET"])]
