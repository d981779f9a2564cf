"""`GET /api/admin/audit`: who did what, newest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from torouter.api.deps import Deps
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.schemas import ApiModel, Timestamp
from torouter.storage.tables import audit_log

__all__ = ["AuditRead", "router"]

router = APIRouter(tags=["audit"])


class AuditRead(ApiModel):
    id: int
    actor: str | None
    action: str
    target: str | None
    detail: dict[str, Any] | None
    created_at: Timestamp


@router.get("/audit", response_model=Page[AuditRead], summary="List audit entries")
async def list_audit(
    deps: Deps,
    paging: Paging,
    action: Annotated[str | None, Query(max_length=100)] = None,
    actor: Annotated[str | None, Query(max_length=320)] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[AuditRead]:
    stmt = select(audit_log).order_by(audit_log.c.id.desc())
    for column, value in (("action", action), ("actor", actor), ("target", target)):
        if value is not None:
            stmt = stmt.where(audit_log.c[column] == value)
    async with deps.db.connect() as conn:
        return await fetch_page(conn, stmt, paging, AuditRead.from_row)
