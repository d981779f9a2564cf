"""The low-balance notice (SPEC R15.4): one mail when the balance falls below the user's
threshold, and no other until the balance has been back at or above it.

State is one column, `users.low_balance_notified_at`: None means armed. The usage writer,
which moves balances down, decides in the transaction that debits (`decide`, pure) from the
balance before and after its debit, so a top-up written anywhere else re-arms the notice
simply by having lifted the balance the writer then sees ("before ≥ threshold"). Setting a
threshold that the balance is already under counts as notified: the user has just seen it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["LowBalance", "decide", "initial_notified", "notify"]

log = logging.getLogger("torouter.usage")


@dataclass(frozen=True, slots=True)
class LowBalance:
    """A notice to send, after the debit that caused it has committed."""

    user_id: int
    email: str
    language: str | None
    balance_nusd: int
    threshold_nusd: int


def decide(
    *, before: int, after: int, threshold: int | None, notified: bool
) -> Literal["notify", "rearm"] | None:
    """What a balance move from `before` to `after` does to the notice."""
    if threshold is None:
        return None
    if after < threshold:
        # Below now: mail unless this dip was mailed already. Having been at or above the
        # threshold just before counts as a new dip even if the flag was never cleared.
        if not notified or before >= threshold:
            return "notify"
        return None
    return "rearm" if notified else None


def initial_notified(balance: int, threshold: int | None) -> bool:
    """Whether a newly set threshold starts as already notified (balance already below)."""
    return threshold is not None and balance < threshold


def notify(
    notices: Sequence[LowBalance], hook: Callable[[Sequence[LowBalance]], None] | None
) -> None:
    """Hand a written batch's notices to `hook`. The rows are committed by then: a mail
    problem is logged, never raised (it must not make the writer retry them)."""
    if notices and hook is not None:
        try:
            hook(notices)
        except Exception:
            log.exception("low-balance notice failed")
