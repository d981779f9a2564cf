"""Money at the API boundary: integer nano-USD inside, decimal USD strings beside (R16.4).

Every `x_nusd` integer in a response has an `x_usd` string next to it, rendered with exactly
9 decimals, a leading `-` for negatives and no exponent or grouping: 10 USD is
`"10.000000000"`, one nUSD is `"0.000000001"`. Nine decimals is the precision of nUSD, so the
string is exact and round-trips (the usage CSV uses the same form, R11.5). Pure functions.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

__all__ = ["MAX_AMOUNT_USD", "NUSD_PER_USD", "nusd_to_usd", "parse_usd", "usd_to_nusd"]

NUSD_PER_USD = 1_000_000_000
# One ledger entry moves at most this much (int64 nUSD holds about 9.2e9 USD).
MAX_AMOUNT_USD = Decimal(1_000_000_000)


def nusd_to_usd(nusd: int) -> str:
    """`10_000_000_000` → `"10.000000000"`; `-1` → `"-0.000000001"`."""
    sign = "-" if nusd < 0 else ""
    whole, frac = divmod(abs(nusd), NUSD_PER_USD)
    return f"{sign}{whole}.{frac:09d}"


def parse_usd(value: object) -> Decimal:
    """A USD amount from a JSON string or number, exactly; ValueError when it is not one.

    Numbers go through their shortest repr (`12.5` → `Decimal("12.5")`), never the binary
    expansion of the float. Booleans, NaN and infinities are refused.
    """
    if isinstance(value, bool):
        raise ValueError("must be a decimal number of USD")
    if isinstance(value, int | float):
        text = repr(value)
    elif isinstance(value, str):
        text = value.strip()
    elif isinstance(value, Decimal):
        text = str(value)
    else:
        raise ValueError("must be a decimal number of USD")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError("must be a decimal number of USD") from None
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    return amount


def usd_to_nusd(amount: Decimal) -> int:
    """Exact conversion; ValueError beyond 9 decimals or beyond `MAX_AMOUNT_USD`."""
    if abs(amount) > MAX_AMOUNT_USD:
        raise ValueError(f"must be at most {MAX_AMOUNT_USD} USD in absolute value")
    scaled = amount * NUSD_PER_USD  # exact: at most 19 significant digits here
    if scaled != scaled.to_integral_value():
        raise ValueError("must have at most 9 decimals")
    return int(scaled)
