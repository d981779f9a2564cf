"""The money timeline's shared parts (SPEC R14.1, R15.4): filters, the entry body with its
reference read back, and the CSV of one user's entries, for `/api/me/ledger` and the admin's
`/api/admin/users/{id}/ledger`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from pydantic import Field
from sqlalchemy import func, select
from starlette.responses import StreamingResponse

from torouter.api.changes import deployment_zone
from torouter.api.deps import ApiDeps
from torouter.api.fields import Day
from torouter.api.schemas import ApiModel, Timestamp, Usd
from torouter.api.usage_views import csv_response, range_of
from torouter.billing import timeline
from torouter.billing.timeline import LedgerFilter
from torouter.records import Row
from torouter.storage.tables import ledger

__all__ = ["LedgerEntryRead", "LedgerQuery", "LedgerQueryParams", "ledger_csv"]

Reason = Literal[
    "topup",
    "admin_credit",
    "admin_debit",
    "usage",
    "subscription_purchase",
    "refund",
    "refund_reversal",
]


class LedgerEntryRead(ApiModel):
    """One balance change (R14.1) with its running balance and what it refers to."""

    id: int
    user_id: int
    amount_nusd: int = Field(description="Signed: credits are positive")
    amount_usd: Usd
    reason: str = Field(
        description="topup | admin_credit | admin_debit | usage | subscription_purchase | "
        "refund | refund_reversal"
    )
    reference: str | None
    reference_kind: str | None = Field(
        None,
        description="order | usage_batch | admin | subscription | renewal | demo | provision "
        "| other",
    )
    order_id: str | None = Field(None, description="The order of a top-up, purchase or refund")
    batch_id: str | None = Field(
        None, description="The usage writer's batch: all the requests it settled at once"
    )
    subscription_id: int | None = None
    actor: str | None = Field(description="Who wrote it: `gateway`, an admin (`user:<id>`), …")
    note: str | None
    balance_after_nusd: int = Field(description="The running balance after this entry")
    balance_after_usd: Usd
    created_at: Timestamp

    @classmethod
    def build(cls, row: Row) -> LedgerEntryRead:
        ref = timeline.reference_of(row["reference"])
        extra: dict[str, Any] = {}
        if ref is not None:
            extra = {
                "reference_kind": ref.kind,
                "order_id": ref.order_id,
                "batch_id": ref.batch_id,
                "subscription_id": ref.subscription_id,
            }
        return cls.from_row(row, **extra)


@dataclass(frozen=True, slots=True)
class LedgerQuery:
    reasons: tuple[str, ...]
    start: dt.date | None
    end: dt.date | None

    def to_filter(self, deps: ApiDeps, user_id: int) -> LedgerFilter:
        since = until = None
        if self.start is not None or self.end is not None:
            days = range_of(deps, self.start, self.end)
            since, until = days.since, days.until
        return LedgerFilter(user_id=user_id, reasons=self.reasons, since=since, until=until)


def _query(
    reason: Annotated[
        list[Reason] | None, Query(description="Only these reasons (repeat the parameter)")
    ] = None,
    start: Annotated[
        Day | None, Query(description="First day (YYYY-MM-DD, deployment timezone)")
    ] = None,
    end: Annotated[Day | None, Query(description="Last day, inclusive")] = None,
) -> LedgerQuery:
    return LedgerQuery(tuple(reason or ()), start, end)


LedgerQueryParams = Annotated[LedgerQuery, Depends(_query)]


async def ledger_csv(deps: ApiDeps, user_id: int, q: LedgerQuery) -> StreamingResponse:
    """`ledger-<start>_<end>.csv`, oldest first; from the first entry when `start` is not given."""
    start = q.start
    if start is None:
        async with deps.db.connect() as conn:
            first = await conn.scalar(
                select(func.min(ledger.c.created_at)).where(ledger.c.user_id == user_id)
            )
        if first is not None:
            start = first.astimezone(deployment_zone(deps)).date()
    days = range_of(deps, start, q.end, default_days=1)
    f = LedgerFilter(user_id=user_id, reasons=q.reasons, since=days.since, until=days.until)
    rows = timeline.csv_rows(deps.db, f, zone=deployment_zone(deps))
    return csv_response(rows, f"ledger-{days.first_day}_{days.last_day}.csv")
