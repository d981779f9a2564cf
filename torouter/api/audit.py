"""The audit trail of admin actions (R16.1 `audit`, a ToRouter extension)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.storage.tables import audit_log

__all__ = ["record_audit"]


async def record_audit(
    conn: AsyncConnection,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """One row in the caller's transaction, so the action and its record commit together.

    `detail` must hold no secret: it is shown to every admin. A target longer than its column
    (`model:` + a 200-character model id) is cut to fit, whole in `detail["target"]`:
    PostgreSQL refuses an over-long value where SQLite stores it (a 500, issue 12).
    """
    limit = getattr(audit_log.c.target.type, "length", None) or 0
    if target is not None and limit and len(target) > limit:
        detail = {**(detail or {}), "target": target}
        target = target[:limit]
    await conn.execute(
        audit_log.insert().values(
            actor=actor,
            action=action,
            target=target,
            detail=dict(detail or {}),
            created_at=dt.datetime.now(dt.UTC),
        )
    )
