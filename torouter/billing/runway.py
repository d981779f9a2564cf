"""The runway (SPEC R15.4): about how many days the balance lasts at the last 7 days' burn.

The burn is what the usage writer actually took from the balance: the `usage` ledger entries
of the last 7 × 24 hours. Subscription usage spends windows, not the balance (R7.7), so it
rightly does not shorten the runway, and neither do top-ups or refunds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.storage.tables import ledger

__all__ = ["WINDOW", "Runway", "burn", "runway"]

WINDOW = dt.timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Runway:
    burn_7d_nusd: int  # taken from the balance by usage over the last 7 days
    daily_burn_nusd: int  # the 7-day burn / 7, rounded down
    days: float | None  # balance / daily burn; None when nothing was spent, 0 when none left


def runway(balance_nusd: int, burn_7d_nusd: int) -> Runway:
    """Pure: the days left at the 7-day average; None when nothing was spent."""
    if burn_7d_nusd <= 0:
        return Runway(max(burn_7d_nusd, 0), 0, None)
    per_day = burn_7d_nusd / 7
    days = max(balance_nusd, 0) / per_day
    return Runway(burn_7d_nusd, burn_7d_nusd // 7, round(days, 1))


async def burn(conn: AsyncConnection, user_id: int, *, now: dt.datetime) -> int:
    c = ledger.c
    total = await conn.scalar(
        select(func.coalesce(func.sum(c.amount_nusd), 0)).where(
            c.user_id == user_id, c.created_at >= now - WINDOW, c.reason == "usage"
        )
    )
    return -int(total or 0)
