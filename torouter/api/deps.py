"""What the management API is built from: passed in once, read by every route (no globals)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends
from starlette.requests import Request

from torouter.accounts.service import Accounts
from torouter.api.principal import SessionResolver
from torouter.billing.ledger import Ledger
from torouter.config import Settings
from torouter.errors import error
from torouter.snapshot import SnapshotHolder
from torouter.storage.db import Database

if TYPE_CHECKING:  # read by a few routes; the gateway's own modules are not imported here
    from torouter.asgi import ASGIApp
    from torouter.billing.payments.service import Payments
    from torouter.routing.health import HealthBook
    from torouter.upstreams.transport import UpstreamTransport

__all__ = ["AccountsDep", "ApiDeps", "Deps", "get_accounts", "get_deps"]


@dataclass(slots=True)
class ApiDeps:
    settings: Settings
    db: Database
    snapshot: SnapshotHolder
    ledger: Ledger
    # Session-cookie authentication; `build_management_api` derives it from `accounts`.
    session_resolver: SessionResolver | None = None
    # Sign-up, login, profile and TOTP flows (`/api/auth`, `/api/me`); None: not served.
    accounts: Accounts | None = None
    # The gateway's channel health book and upstream client (channel health view and Test).
    health: HealthBook | None = None
    http: UpstreamTransport | None = None
    # The gateway's ASGI callable: the playground sends its chats through it, so they are
    # admitted, metered and billed like any request (R15.1).
    gateway: ASGIApp | None = None
    # Orders, Stripe and refunds; None: 503 on payment routes.
    payments: Payments | None = None


def get_deps(request: Request) -> ApiDeps:
    deps: ApiDeps = request.app.state.deps
    return deps


Deps = Annotated[ApiDeps, Depends(get_deps)]


def get_accounts(deps: Deps) -> Accounts:
    if deps.accounts is None:
        raise error("E19", "Accounts are not enabled on this server")
    return deps.accounts


AccountsDep = Annotated[Accounts, Depends(get_accounts)]
