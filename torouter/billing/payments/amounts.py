"""Money rules of payments, as pure functions (R14.2, R14.5).

Stripe counts US dollars in cents; the ledger counts nano-USD. A payable amount is a whole
number of cents, so the conversion is exact both ways.

Spent-first refunds (R14.5): spending eats the oldest credits first, so what is left of a
top-up is the balance minus every credit that came after it, clamped to [0, its amount].
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "NUSD_PER_CENT",
    "Credit",
    "minor_units",
    "refundable",
    "round_down_to_cents",
    "topup_amount_error",
]

NUSD_PER_CENT = 10_000_000
STRIPE_MIN_CENTS = 50  # Stripe's smallest USD charge


def minor_units(nusd: int) -> int:
    """nUSD → cents; ValueError if it is not a whole number of cents."""
    cents, rest = divmod(nusd, NUSD_PER_CENT)
    if rest:
        raise ValueError("not a whole number of cents")
    return cents


def round_down_to_cents(nusd: int) -> int:
    return nusd - nusd % NUSD_PER_CENT if nusd > 0 else 0


def topup_amount_error(amount: Decimal, low: Decimal, high: Decimal) -> str | None:
    """Why a custom top-up amount is refused (R14.2: 2 decimals, within the limits); None if
    it is fine."""
    if not amount.is_finite():
        return "must be a number of USD"
    if amount != amount.quantize(Decimal("0.01")):
        return "must have at most 2 decimals"
    if amount < low or amount > high:
        return f"must be between {low:.2f} and {high:.2f} USD"
    return None


@dataclass(frozen=True, slots=True)
class Credit:
    """A balance credit after the top-up in question, net of what has been refunded of it."""

    amount_nusd: int


def refundable(balance_nusd: int, amount_nusd: int, later: Iterable[Credit]) -> int:
    """`clamp(balance − credits added after this order, 0, order amount)` (R14.5)."""
    left = balance_nusd - sum(c.amount_nusd for c in later)
    return max(0, min(left, amount_nusd))
