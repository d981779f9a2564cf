"""The console's operator side (R15.2): every page under `/admin/…`, admins only.

One module per resource, as on the user side; each handler is wrapped in `guards.admin`, so a
signed-in user who is not an administrator gets a 403 page for every page and action before
anything is read or changed.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.console.admin import (
    audit,
    channel_form,
    channel_tools,
    channels,
    groups,
    models,
    operations,
    orders,
    plans,
    reconcile,
    settings,
    settings_payments,
    tokens,
    usage,
    user_actions,
    users,
)
from torouter.console.guards import admin
from torouter.console.render import redirect
from torouter.console.visitor import Visitor

__all__ = ["SECTIONS", "routes"]

# The admin navigation, in order: (path, message key under `admin.nav`). Only sections that
# exist are listed, so the navigation has no dead entry.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("/admin/users", "users"),
    ("/admin/groups", "groups"),
    ("/admin/plans", "plans"),
    ("/admin/models", "models"),
    ("/admin/channels", "channels"),
    ("/admin/orders", "orders"),
    ("/admin/payments/reconcile", "reconcile"),
    ("/admin/usage", "usage"),
    ("/admin/operations", "operations"),
    ("/admin/settings", "settings"),
    ("/admin/tokens", "tokens"),
    ("/admin/audit", "audit"),
)


@admin
async def home(request: Request, v: Visitor) -> Response:
    return redirect("/admin/users")


routes: list[Route] = [
    Route("/admin", home, methods=["GET"]),
    *users.routes,
    *user_actions.routes,
    *groups.routes,
    *plans.routes,
    *models.routes,
    *channel_form.routes,  # `/admin/channels/new` before `/admin/channels/{channel_id}`
    *channel_tools.routes,
    *channels.routes,
    *orders.routes,
    *reconcile.routes,
    *usage.routes,
    *operations.routes,
    *settings.routes,
    *settings_payments.routes,
    *tokens.routes,
    *audit.routes,
]
