"""What a request was billed at, kept on its usage row for the request detail (SPEC R15.4).

Prices and multipliers change; a row must still explain its own cost. The gateway adds these
three fields when it records a settled request: the estimate reserved at admission, the group
multiplier, and the model's effective unit prices (cache prices already defaulted from the
input price), as exact decimal strings. Zero prices are left out.
"""

from __future__ import annotations

import dataclasses
import functools
from decimal import Decimal
from typing import TYPE_CHECKING, TypedDict

from torouter.memo import IdentityMemo

if TYPE_CHECKING:
    from torouter.billing.pricing import Prices

__all__ = ["BillingSnapshot", "billing_snapshot", "unit_prices"]


class BillingSnapshot(TypedDict):
    estimate_nusd: int | None
    price_multiplier: str | None
    unit_prices: dict[str, str] | None


@functools.lru_cache(maxsize=1024)
def unit_prices(prices: Prices) -> dict[str, str]:
    """`{"input": "2.5", "output": "10", …}`: USD per 1M tokens (per request, image, audio
    minute or 1M characters for the unit prices). Cached: the same dict serves every row of a
    price, and nobody mutates it."""
    out: dict[str, str] = {}
    for f in dataclasses.fields(prices):
        value: Decimal = getattr(prices, f.name)
        if value:
            out[f.name] = format(value, "f")
    return out


# Per row: the snapshot's own Prices object, found without hashing its nine Decimals.
_unit_prices_by_identity = IdentityMemo(unit_prices)


def billing_snapshot(
    prices: Prices | None, multiplier: Decimal | None, estimate_nusd: int | None
) -> BillingSnapshot:
    return {
        "estimate_nusd": estimate_nusd,
        "price_multiplier": None if multiplier is None else format(multiplier, "f"),
        "unit_prices": None if prices is None else _unit_prices_by_identity(prices),
    }
