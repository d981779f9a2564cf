"""nUSD ↔ USD strings at the API boundary."""

from __future__ import annotations

from decimal import Decimal

import pytest

from torouter.api.money import nusd_to_usd, parse_usd, usd_to_nusd


@pytest.mark.parametrize(
    ("nusd", "usd"),
    [
        (0, "0.000000000"),
        (1, "0.000000001"),
        (-1, "-0.000000001"),
        (10_000_000_000, "10.000000000"),
        (15_750_000, "0.015750000"),
        (-9_750_000_001, "-9.750000001"),
        (2**63 - 1, "9223372036.854775807"),
    ],
)
def test_nusd_to_usd(nusd: int, usd: str) -> None:
    assert nusd_to_usd(nusd) == usd


@pytest.mark.parametrize("nusd", [0, 1, -1, 123_456_789_012, -(10**18)])
def test_round_trip(nusd: int) -> None:
    assert usd_to_nusd(Decimal(nusd_to_usd(nusd))) == nusd


@pytest.mark.parametrize(
    ("value", "nusd"),
    [
        ("12.50", 12_500_000_000),
        (12.5, 12_500_000_000),
        (0.1, 100_000_000),
        (3, 3 * 10**9),
        (" -2.25 ", -2_250_000_000),
        ("1.100000000000", 1_100_000_000),
    ],
)
def test_parse(value: object, nusd: int) -> None:
    assert usd_to_nusd(parse_usd(value)) == nusd


@pytest.mark.parametrize("value", [True, None, "abc", "NaN", "Infinity", [], "", float("inf")])
def test_parse_refuses(value: object) -> None:
    with pytest.raises(ValueError):
        parse_usd(value)


@pytest.mark.parametrize("value", ["0.0000000001", "1000000000.01", "-1e10"])
def test_usd_to_nusd_refuses(value: str) -> None:
    with pytest.raises(ValueError):
        usd_to_nusd(Decimal(value))
