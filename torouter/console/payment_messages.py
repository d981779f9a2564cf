"""The payment services' errors in the page's language (R15.1).

The services raise `GatewayError`s with English messages (the JSON API's contract). The
console shows the ones a person can meet on the payment pages in both languages: each known
message is matched here to a catalog key, its values carried over (an order state becomes its
word). An unknown message falls back to the error code's own text in Chinese, and to the
message itself in English (in Chinese: the code's text, then the English message). Pure: a
table and a function.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from torouter.console.i18n import Translator
from torouter.errors import GatewayError

__all__ = ["payment_error"]

_TABLE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), key)
    for pattern, key in (
        (r"You have (?P<n>\d+) unpaid orders open; pay or cancel one first", "too_many_open"),
        (r"This order has been paid", "already_paid"),
        (r"This order has expired; start a new one", "expired"),
        (r"This order's payment is being processed; .*", "processing"),
        (r"This order is (?P<status>[a-z_]+); a refund needs a paid order", "refund_not_paid"),
        (r"This order is (?P<status>[a-z_]+)", "order_state"),
        (r"This order changed meanwhile; reload it", "changed"),
        (r"Order not found", "order_not_found"),
        (r"Only top-ups paid through Stripe can be refunded", "refund_topups_only"),
        (r"Refunds are possible within (?P<days>\d+) days of payment", "refund_window"),
        (r"Nothing of this top-up is left to refund: .*", "refund_spent"),
        (r"The payment provider is unavailable; please try again", "provider_down"),
        (r"The payment provider refused the request: (?P<detail>.*)", "provider_refused"),
        (r"(amount_usd|plan_id): Stripe cannot charge less than 0\.50 USD", "below_stripe_min"),
        (r"amount_usd: must have at most 2 decimals", "two_decimals"),
        (r"amount_usd: must be between (?P<low>[\d.]+) and (?P<high>[\d.]+) USD", "range"),
        (r"amount_usd: (must be a number of USD|required for a top-up)", "amount_needed"),
        (r"plan_id: no such plan on offer to you", "no_such_plan"),
        (r"There is already a live subscription to this group with another plan; .*", "other_plan"),
        (r"This plan can be bought at most (?P<n>\d+) time\(s\)", "plan_limit"),
        (r"This subscription is declared in the config file and is read-only", "managed"),
        (r"Subscription not found|This subscription belongs to another account", "no_sub"),
    )
)


def payment_error(
    exc: GatewayError, t: Translator, money: Callable[[Decimal], str] | None = None
) -> str:
    """The message for `exc` in `t`'s language; `money` formats the amounts it names."""
    if exc.message is None:
        key = f"payerr.code.{exc.code}"
        return t(key) if t.has(key) else exc.text(t.lang)
    for pattern, name in _TABLE:
        match = pattern.fullmatch(exc.message)
        if match is None:
            continue
        values = {k: v for k, v in match.groupdict().items() if v is not None}
        for bound in ("low", "high"):
            if bound in values and money is not None:
                values[bound] = money(Decimal(values[bound]))
        status = values.get("status")
        if status is not None:
            word = f"order.status.{status}"
            values["status"] = t(word) if t.has(word) else status
        return t(f"payerr.{name}", **values)
    return exc.message if t.lang == "en" else f"{exc.spec.zh}：{exc.message}"
