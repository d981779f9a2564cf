"""A request's billing breakdown and attempts (R15.4), rebuilt from its row alone. Pure."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from torouter.billing.pricing import Prices, cost_nusd
from torouter.protocols.internal import Usage
from torouter.usage.billing_snapshot import billing_snapshot, unit_prices
from torouter.usage.detail import attempts, billing


def row(usage: Usage, prices: Prices, multiplier: str, **extra: Any) -> dict[str, Any]:
    snap = billing_snapshot(prices, Decimal(multiplier), 999)
    return {
        "outcome": "success",
        "cost_nusd": cost_nusd(usage, prices, Decimal(multiplier)),
        "estimated": False,
        "input_tokens": usage.input,
        "cache_read_tokens": usage.cache_read,
        "cache_write_5m_tokens": usage.cache_write_5m,
        "cache_write_1h_tokens": usage.cache_write_1h,
        "output_tokens": usage.output,
        "reasoning_tokens": usage.reasoning,
        "images": usage.images,
        "audio_seconds": usage.audio_seconds,
        "characters": usage.characters,
        **snap,
        **extra,
    }


def test_snapshot_keeps_effective_prices_as_text() -> None:
    prices = Prices.with_defaults(input=Decimal("2.5"), output=Decimal(10))
    assert unit_prices(prices) == {
        "input": "2.5",
        "output": "10",
        "cache_read": "2.5",  # defaulted from input (R10.3)
        "cache_write_5m": "3.125",
        "cache_write_1h": "5.0",
    }
    assert unit_prices(prices) is unit_prices(prices)  # one dict per price, for every row
    assert billing_snapshot(None, None, None) == {
        "estimate_nusd": None,
        "price_multiplier": None,
        "unit_prices": None,
    }


def test_every_kind_of_line_reconciles() -> None:
    prices = Prices(
        input=Decimal("0.15"),
        output=Decimal("0.6"),
        cache_read=Decimal("0.075"),
        cache_write_5m=Decimal("0.1875"),
        per_request=Decimal("0.001"),
        per_image=Decimal("0.04"),
        per_audio_minute=Decimal("0.006"),
        per_1m_characters=Decimal(15),
    )
    usage = Usage(
        input=1234,
        output=567,
        reasoning=100,
        cache_read=89,
        cache_write_5m=7,
        images=2,
        audio_seconds=12.5,
        characters=333,
    )
    b = billing(row(usage, prices, "0.85"))
    assert b.charged and b.reconciles and b.multiplier == "0.85" and b.estimate_nusd == 999
    lines = {line.kind: line for line in b.lines}
    assert list(lines) == [
        "input",
        "cache_read",
        "cache_write_5m",
        "output",
        "images",
        "audio",
        "characters",
        "request",
    ]
    assert (lines["input"].quantity, lines["input"].amount) == ("1234", "0.0001851")
    assert (lines["audio"].quantity, lines["audio"].unit, lines["audio"].amount) == (
        "12.5",
        "minute",
        "0.00125",
    )
    assert lines["request"].amount == "0.001"
    total = sum(Decimal(line.amount) for line in b.lines)
    assert Decimal(b.subtotal or "x") == total
    assert b.settled_nusd == round(total * Decimal("0.85") * 10**9)
    assert b.difference_nusd == b.settled_nusd - 999


def test_a_tampered_cost_does_not_reconcile() -> None:
    prices = Prices(input=Decimal(1))
    r = row(Usage(input=1000), prices, "1")
    assert billing(r).reconciles
    r["cost_nusd"] += 1
    assert billing(r).reconciles is False


def test_attempts_in_order_tolerate_odd_entries() -> None:
    chain = [
        {"channel_id": 4, "status": 429, "class": "rate_limited", "latency_ms": 12},
        "junk",
        {"channel_id": 5, "status": 200, "class": "success", "latency_ms": 300},
    ]
    got = attempts(chain)
    assert [(a.number, a.channel_id, a.failure_class) for a in got] == [
        (1, 4, "rate_limited"),
        (3, 5, "success"),
    ]
    assert attempts(None) == [] and attempts({"x": 1}) == []
