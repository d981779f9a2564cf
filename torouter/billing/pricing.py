"""Cost of a request in integer nano-USD (SPEC R10.3, R10.4, R7.9). Pure functions.

Prices are exact decimals in USD per 1M tokens (or per unit); one half-up rounding per request.
"""

from __future__ import annotations

import functools
import math
from decimal import ROUND_HALF_UP, Decimal

from torouter.memo import IdentityMemo
from torouter.protocols.internal import Usage
from torouter.records import Prices  # re-exported: the record lives in the leaf module

__all__ = ["Prices", "cost_nusd", "estimate_nusd"]

_ZERO = Decimal(0)
_NANO = Decimal(10**9)
_PER_TOKEN = Decimal(1000)  # USD per 1M tokens → nUSD per token


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def cost_nusd(usage: Usage, prices: Prices, multiplier: Decimal = Decimal(1)) -> int:
    """What `usage` costs at `prices` × `multiplier`, rounded half-up once (R10.3).

    The same number as `_cost_decimal`, computed in integers when every price is a decimal of
    at most 12 places and no audio is priced (the hot path: a few multiplications, no Decimal).
    """
    scaled = _scaled_by_identity(prices)
    mult = _scaled_multiplier(multiplier)
    if scaled is None or mult is None or (usage.audio_seconds and prices.per_audio_minute):
        return _cost_decimal(usage, prices, multiplier)
    exp, (p_in, p_read, p_5m, p_1h, p_out, p_req, p_img, p_char) = scaled
    m, m_exp = mult
    total = (
        usage.input * p_in
        + usage.cache_read * p_read
        + usage.cache_write_5m * p_5m
        + usage.cache_write_1h * p_1h
        + usage.output * p_out
        + p_req
        + usage.images * p_img
        + usage.characters * p_char
    ) * m
    den: int = 10 ** (exp + m_exp)  # exp, m_exp ≥ 0: an int (typeshed says Any for int ** int)
    if total >= 0:
        return (2 * total + den) // (2 * den)
    return -((-2 * total + den) // (2 * den))


def _cost_decimal(usage: Usage, prices: Prices, multiplier: Decimal) -> int:
    tokens = (
        usage.input * prices.input
        + usage.cache_read * prices.cache_read
        + usage.cache_write_5m * prices.cache_write_5m
        + usage.cache_write_1h * prices.cache_write_1h
        + usage.output * prices.output
    ) * _PER_TOKEN
    units = (
        prices.per_request
        + usage.images * prices.per_image
        + Decimal(str(usage.audio_seconds)) / 60 * prices.per_audio_minute
        + usage.characters * prices.per_1m_characters / 10**6
    ) * _NANO
    return _round(multiplier * (tokens + units))


_MAX_PLACES = 12


def _places(values: tuple[Decimal, ...]) -> int | None:
    """Decimal places that make every value an integer, or None (too many, or not finite)."""
    places = 0
    for v in values:
        if not v.is_finite():
            return None
        exponent = v.as_tuple().exponent
        assert isinstance(exponent, int)
        places = max(places, -exponent)
    return places if places <= _MAX_PLACES else None


@functools.lru_cache(maxsize=4096)
def _scaled(prices: Prices) -> tuple[int, tuple[int, ...]] | None:
    """Every price in nUSD per unit × 10**exp, as exact integers: (exp, prices)."""
    per_unit = (
        prices.input * _PER_TOKEN,
        prices.cache_read * _PER_TOKEN,
        prices.cache_write_5m * _PER_TOKEN,
        prices.cache_write_1h * _PER_TOKEN,
        prices.output * _PER_TOKEN,
        prices.per_request * _NANO,
        prices.per_image * _NANO,
        prices.per_1m_characters * _PER_TOKEN,  # per character: × 10**9 / 10**6
    )
    exp = _places(per_unit)
    if exp is None:
        return None
    return exp, tuple(int(v.scaleb(exp)) for v in per_unit)


# The hot path's lookup: the snapshot's own Prices object, found without hashing its Decimals.
_scaled_by_identity = IdentityMemo(_scaled)


@functools.lru_cache(maxsize=256)
def _scaled_multiplier(multiplier: Decimal) -> tuple[int, int] | None:
    exp = _places((multiplier,))
    return None if exp is None else (int(multiplier.scaleb(exp)), exp)


def estimate_tokens(text_bytes: int) -> int:
    return math.ceil(text_bytes / 4)


def estimate_nusd(
    input_tokens: int,
    max_output_tokens: int | None,
    prices: Prices,
    multiplier: Decimal,
    *,
    output_cap: int = 8192,
    images: int = 0,
    choices: int = 1,
) -> int:
    """The reservation of R7.9: input estimate + requested output (else 1024, ≤ the cap) for
    each of `choices` answers (the input is sent once) + the per-request price + `images`
    requested × the per-image price."""
    out = max_output_tokens if max_output_tokens and max_output_tokens > 0 else 1024
    out = min(out, output_cap) * max(choices, 1)
    return cost_nusd(Usage(input=input_tokens, output=out, images=images), prices, multiplier)
