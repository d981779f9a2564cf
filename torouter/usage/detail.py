"""One request's detail (SPEC R15.4): its attempts in order and its billing breakdown. Pure.

The breakdown is rebuilt from the row alone: tokens by kind, the unit prices and multiplier it
was settled at (kept on the row by the gateway), the estimate reserved at admission. Each line
is exact (decimal USD, before the multiplier); the settled cost is recomputed with the same
pricing function the gateway charged with, so `reconciles` says the explanation adds up to the
very nano-dollar charged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from torouter.billing.pricing import Prices, cost_nusd
from torouter.protocols.internal import Usage

__all__ = ["CHARGED", "Attempt", "Billing", "BillingLine", "attempts", "billing", "usage_of"]

CHARGED = frozenset({"success", "partial", "client_cancelled"})  # R10.6: the rest cost 0
_MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int  # from 1, in the order they were made
    status: int | None
    failure_class: str | None  # "success" for the one that answered
    latency_ms: int | None
    channel_id: int | None  # admins only (R11.4)


def attempts(chain: Any) -> list[Attempt]:
    out = []
    for i, a in enumerate(chain if isinstance(chain, list) else [], start=1):
        if not isinstance(a, Mapping):
            continue
        out.append(
            Attempt(
                number=i,
                status=a.get("status"),
                failure_class=a.get("class"),
                latency_ms=a.get("latency_ms"),
                channel_id=a.get("channel_id"),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class BillingLine:
    kind: str  # input | cache_read | cache_write_5m | cache_write_1h | output | request | …
    quantity: str  # tokens, images, seconds of audio, characters, or 1 request
    unit: str  # what the unit price is per
    unit_price: str
    amount: str  # quantity × unit price, exact, before the multiplier


@dataclass(frozen=True, slots=True)
class Billing:
    charged: bool
    unit_prices: dict[str, str] | None  # None: settled before prices were kept on rows
    multiplier: str | None
    lines: list[BillingLine]
    subtotal: str | None  # sum of the lines
    estimate_nusd: int | None
    settled_nusd: int
    estimated: bool  # no upstream usage: settled on the estimate (R10.6)
    difference_nusd: int | None  # settled − estimate
    reconciles: bool | None  # the lines × multiplier, rounded once, give `settled_nusd`


# (kind, usage field, price field, unit label, divisor of the quantity for the price)
_KINDS = (
    ("input", "input_tokens", "input", "1M tokens", _MILLION),
    ("cache_read", "cache_read_tokens", "cache_read", "1M tokens", _MILLION),
    ("cache_write_5m", "cache_write_5m_tokens", "cache_write_5m", "1M tokens", _MILLION),
    ("cache_write_1h", "cache_write_1h_tokens", "cache_write_1h", "1M tokens", _MILLION),
    ("output", "output_tokens", "output", "1M tokens", _MILLION),
    ("images", "images", "per_image", "image", Decimal(1)),
    ("audio", "audio_seconds", "per_audio_minute", "minute", Decimal(60)),
    ("characters", "characters", "per_1m_characters", "1M characters", _MILLION),
)


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def usage_of(row: Mapping[str, Any]) -> Usage:
    """The usage a row was billed for (the internal shape the pricing function takes)."""
    return Usage(
        input=row["input_tokens"],
        cache_read=row["cache_read_tokens"],
        cache_write_5m=row["cache_write_5m_tokens"],
        cache_write_1h=row["cache_write_1h_tokens"],
        output=row["output_tokens"],
        reasoning=row["reasoning_tokens"],
        images=row["images"],
        audio_seconds=row["audio_seconds"],
        characters=row["characters"],
    )


def billing(row: Mapping[str, Any]) -> Billing:
    charged = row["outcome"] in CHARGED
    settled = int(row["cost_nusd"])
    estimate = row.get("estimate_nusd")
    raw_prices = row.get("unit_prices")
    multiplier = row.get("price_multiplier")
    lines: list[BillingLine] = []
    subtotal: Decimal | None = None
    reconciles: bool | None = None
    if isinstance(raw_prices, Mapping) and multiplier is not None:
        names = {f.name for f in dataclasses.fields(Prices)}
        prices = Prices(**{k: Decimal(str(v)) for k, v in raw_prices.items() if k in names})
        subtotal = Decimal(0)
        if charged:
            for kind, qty_field, price_field, unit, per in _KINDS:
                qty = Decimal(str(row[qty_field]))
                price: Decimal = getattr(prices, price_field)
                if not qty or not price:
                    continue
                amount = qty * price / per
                subtotal += amount
                lines.append(BillingLine(kind, _plain(qty), unit, _plain(price), _plain(amount)))
            if prices.per_request:
                subtotal += prices.per_request
                lines.append(
                    BillingLine(
                        "request",
                        "1",
                        "request",
                        _plain(prices.per_request),
                        _plain(prices.per_request),
                    )
                )
            recomputed = cost_nusd(usage_of(row), prices, Decimal(str(multiplier)))
        else:
            recomputed = 0
        reconciles = recomputed == settled
    return Billing(
        charged=charged,
        unit_prices=dict(raw_prices) if isinstance(raw_prices, Mapping) else None,
        multiplier=None if multiplier is None else _plain(Decimal(str(multiplier))),
        lines=lines,
        subtotal=None if subtotal is None else _plain(subtotal),
        estimate_nusd=estimate,
        settled_nusd=settled,
        estimated=bool(row["estimated"]),
        difference_nusd=None if estimate is None else settled - int(estimate),
        reconciles=reconciles,
    )
