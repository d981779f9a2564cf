"""What the management API is built from: passed in once, read by every route (no globals)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from torouter.api.principal import SessionResolver
from torouter.billing.ledger import Ledger
from torouter.config import Settings
from torouter.snapshot import SnapshotHolder
from torouter.storage.db import Database

__all__ = ["ApiDeps", "Deps", "get_deps"]


@dataclass(slots=True)
class ApiDeps:
    settings: Settings
    db: Database
    snapshot: SnapshotHolder
    ledger: Ledger
    # Session-cookie authentication, supplied by the accounts package when it exists.
    session_resolver: SessionResolver | None = None


def get_deps(request: Request) -> ApiDeps:
    deps: ApiDeps = request.app.state.deps
    return deps


Deps = Annotated[ApiDeps, Depends(get_deps)]
