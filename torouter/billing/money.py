"""USD text of a nano-USD amount, for files and messages: exactly 9 decimals (R11.5, R16.4).

The management API renders its `_usd` fields the same way (`api/money.py`; a test pins both).
"""

from __future__ import annotations

__all__ = ["usd_text"]


def usd_text(nusd: int) -> str:
    """`10_000_000_000` → `"10.000000000"`; `-1` → `"-0.000000001"`."""
    whole, frac = divmod(abs(nusd), 1_000_000_000)
    return f"{'-' if nusd < 0 else ''}{whole}.{frac:09d}"
