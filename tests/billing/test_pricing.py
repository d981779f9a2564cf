"""Pricing (SPEC R10.3, R10.4, R7.9): exact decimals in, integer nano-USD out, one rounding."""

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torouter.billing import pricing
from torouter.billing.pricing import Prices, cost_nusd, estimate_nusd
from torouter.protocols.internal import Usage

P = Prices.with_defaults


@pytest.mark.parametrize(
    ("usage", "prices", "mult", "expected"),
    [
        # R10.4 example: 1,000 in at $3/M and 500 out at $15/M, ×1.5 → 15,750,000 nUSD
        (Usage(input=1000, output=500), P(input=D(3), output=D(15)), D("1.5"), 15_750_000),
        (Usage(), P(input=D(3)), D(1), 0),
        # cache defaults: read = input, 5m write = 1.25 × input, 1h write = 2 × input
        (Usage(cache_read=1000), P(input=D(2)), D(1), 2_000_000),
        (Usage(cache_write_5m=1000), P(input=D(2)), D(1), 2_500_000),
        (Usage(cache_write_1h=1000), P(input=D(2)), D(1), 4_000_000),
        (Usage(cache_read=1000), P(input=D(2), cache_read=D("0.2")), D(1), 200_000),
        # reasoning is billed inside output, never twice
        (Usage(output=100, reasoning=80), P(output=D(10)), D(1), 1_000_000),
        # one half-up rounding per request: 1 token at $0.0005/M = 0.5 nUSD → 1
        (Usage(input=1), P(input=D("0.0005")), D(1), 1),
        (Usage(input=1), P(input=D("0.0004")), D(1), 0),
        (Usage(input=3), P(input=D("0.0005")), D(1), 2),  # 1.5 → 2
        # free group
        (Usage(input=10**6), P(input=D(3)), D(0), 0),
        # per-request, per-image, per-audio-minute, per-1M-characters
        (Usage(), P(per_request=D("0.01")), D(1), 10_000_000),
        (Usage(images=2), P(per_image=D("0.04")), D(1), 80_000_000),
        (Usage(audio_seconds=90), P(per_audio_minute=D("0.006")), D(1), 9_000_000),
        (Usage(characters=500_000), P(per_1m_characters=D(15)), D(1), 7_500_000_000),
    ],
)
def test_cost_table(usage: Usage, prices: Prices, mult: D, expected: int) -> None:
    assert cost_nusd(usage, prices, mult) == expected


def test_unset_prices_are_zero() -> None:
    assert cost_nusd(Usage(input=5, output=5, images=3), Prices()) == 0


@pytest.mark.parametrize(
    ("max_out", "expected_out"),
    [(None, 1024), (0, 1024), (100, 100), (10**6, 8192)],
)
def test_estimate_uses_requested_output_capped(max_out: int | None, expected_out: int) -> None:
    prices = P(input=D(1), output=D(1))
    got = estimate_nusd(10, max_out, prices, D(1), output_cap=8192)
    assert got == (10 + expected_out) * 1000


@settings(max_examples=500, deadline=None)
@given(
    prices=st.builds(
        Prices,
        **{
            f: st.decimals(min_value=0, max_value=1000, allow_nan=False, allow_infinity=False).map(
                lambda d: d.quantize(D(1).scaleb(-6))
            )
            for f in (
                "input",
                "output",
                "cache_read",
                "cache_write_5m",
                "cache_write_1h",
                "per_request",
                "per_image",
                "per_1m_characters",
            )
        },
    ),
    tokens=st.lists(st.integers(0, 5_000_000), min_size=7, max_size=7),
    mult=st.decimals(min_value=0, max_value=10, places=4),
)
def test_integer_path_equals_decimal_reference(prices: Prices, tokens: list[int], mult: D) -> None:
    """R10.3: the integer fast path gives exactly the Decimal computation's half-up result."""
    usage = Usage(
        input=tokens[0],
        output=tokens[1],
        cache_read=tokens[2],
        cache_write_5m=tokens[3],
        cache_write_1h=tokens[4],
        images=tokens[5] % 50,
        characters=tokens[6],
    )
    assert pricing._scaled(prices) is not None
    assert cost_nusd(usage, prices, mult) == pricing._cost_decimal(usage, prices, mult)


def test_half_nano_rounds_up_on_both_paths() -> None:
    prices = Prices(input=D("0.0005"))  # 0.5 nUSD per token
    assert cost_nusd(Usage(input=1), prices) == 1
    assert cost_nusd(Usage(input=3), prices) == 2  # 1.5 → 2
    many = Prices(input=D("0.0000000000005"))  # 13 places: the Decimal path
    assert pricing._scaled(many) is None
    assert cost_nusd(Usage(input=10**9), many) == 1  # 0.5 → 1


def test_priced_audio_takes_the_decimal_path() -> None:
    prices = Prices(per_audio_minute=D("0.006"))
    assert cost_nusd(Usage(audio_seconds=30.0), prices) == 3_000_000
