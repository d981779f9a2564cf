"""The usage row of an admin channel Test (R9.9: outcome `test`): no user, no key, no cost.

Written straight to the usage log (not through the batched recorder, which journals billed
requests): a Test is rare, answered only after it ran, and moves no money.
"""

from __future__ import annotations

import datetime as dt

from torouter.ids import new_ulid
from torouter.storage.db import Database
from torouter.storage.tables import usage_logs

__all__ = ["record_test"]


async def record_test(
    db: Database,
    *,
    channel_id: int,
    model: str | None,
    status: int,
    ok: bool,
    latency_ms: int,
    actor: str,
) -> str:
    """Store one `test` row; returns its request id (`test_<ULID>`). The acting admin is
    kept in the row's user-agent field, so the log says who tested."""
    request_id = f"test_{new_ulid()}"
    attempt = {
        "channel_id": channel_id,
        "status": status,
        "class": "success" if ok else "test",
        "latency_ms": latency_ms,
    }
    async with db.begin() as conn:
        await conn.execute(
            usage_logs.insert().values(
                admission_id=request_id,
                created_at=dt.datetime.now(dt.UTC),
                request_id=request_id,
                model_requested=model,
                model_upstream=model,
                endpoint="chat",
                stream=False,
                status=status,
                outcome="test",
                error_code=None if ok else "test_failed",
                channel_id=channel_id,
                attempts=1,
                attempt_chain=[attempt],
                latency_ms=latency_ms,
                user_agent=actor[:200],
            )
        )
    return request_id
