"""Admin-editable console settings, in the `settings` table beside the sign-up ones (R17.5).

pricing.public     bool, default true: `/pricing` is readable without an account (R15.4)
display.cny_rate   decimal string, default unset: CNY per USD for users who show CNY (§0)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.storage.repos._common import sync_row
from torouter.storage.tables import settings_kv

__all__ = ["CNY_RATE", "PUBLIC_PRICING", "DisplaySettings", "load_display", "save_display"]

PUBLIC_PRICING = "pricing.public"
CNY_RATE = "display.cny_rate"


@dataclass(frozen=True, slots=True)
class DisplaySettings:
    public_pricing: bool = True
    cny_rate: Decimal | None = None


def _rate(value: object) -> Decimal | None:
    try:
        rate = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return rate if rate.is_finite() and rate > 0 else None


async def load_display(conn: AsyncConnection) -> DisplaySettings:
    stmt = select(settings_kv.c.key, settings_kv.c.value).where(
        settings_kv.c.key.in_((PUBLIC_PRICING, CNY_RATE))
    )
    values = {row.key: row.value for row in await conn.execute(stmt)}
    public = values.get(PUBLIC_PRICING)
    rate = values.get(CNY_RATE)
    return DisplaySettings(
        public_pricing=public if isinstance(public, bool) else True,
        cny_rate=_rate(rate) if rate is not None else None,
    )


async def save_display(
    conn: AsyncConnection,
    *,
    public_pricing: bool | None = None,
    cny_rate: Decimal | None = None,
    clear_cny_rate: bool = False,
) -> DisplaySettings:
    """Write the settings given (None: unchanged; `clear_cny_rate` unsets the rate)."""
    if public_pricing is not None:
        await sync_row(
            conn,
            settings_kv,
            match={"key": PUBLIC_PRICING},
            values={"value": public_pricing},
            stamp="updated_at",
        )
    if cny_rate is not None or clear_cny_rate:
        value = None if clear_cny_rate else format(cny_rate, "f")
        await sync_row(
            conn, settings_kv, match={"key": CNY_RATE}, values={"value": value}, stamp="updated_at"
        )
    return await load_display(conn)
