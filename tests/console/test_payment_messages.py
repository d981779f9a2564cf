"""The payment services' errors in the page's language: every message a person can meet on
the payment pages has its words in both catalogs, with its values carried over."""

from __future__ import annotations

from decimal import Decimal

import pytest

from torouter.api.order_schemas import ORDER_STATUSES
from torouter.console.i18n import Translator, catalog
from torouter.console.payment_messages import _TABLE, payment_error
from torouter.errors import error


@pytest.mark.parametrize(
    ("code", "message", "en", "zh"),
    [
        (
            "CONFLICT",
            "You have 3 unpaid orders open; pay or cancel one first",
            "You have 3 unpaid orders open. Pay or cancel one of them first.",
            "你已有 3 笔未支付的订单，请先支付或取消其中一笔。",
        ),
        (
            "CONFLICT",
            "This order is refund_requested; a refund needs a paid order",
            "A refund needs a paid order; this one is Refund requested.",
            "只有已支付的订单才能退款，此订单状态为“退款审核中”。",
        ),
        (
            "CONFLICT",
            "This order is cancelled",
            "This cannot be done: the order is Cancelled.",
            "无法执行此操作：订单状态为“已取消”。",
        ),
        (
            "E16",
            "amount_usd: must be between 1.00 and 10000.00 USD",
            "Enter an amount from $1.00 to $10,000.00.",
            "请输入 US$1.00 至 US$10,000.00 之间的金额。",
        ),
        (
            "E21",
            "The payment provider refused the request: Your card was declined.",
            "Stripe refused the request: Your card was declined.",
            "Stripe 拒绝了请求：Your card was declined.",
        ),
        ("E11", None, "Your balance is too low for this.", "余额不足。"),
        (
            "PAYMENTS_NOT_CONFIGURED",
            None,
            "Payments are not configured on this instance",
            "本实例未配置支付",
        ),
        # Unknown: the message in English; in Chinese the code's words, then the message.
        ("CONFLICT", "Something new", "Something new", "冲突：Something new"),
    ],
)
def test_known_messages_in_both_languages(code: str, message: str | None, en: str, zh: str) -> None:
    exc = error(code, message)
    for lang, expected in (("en", en), ("zh-CN", zh)):
        t = Translator(lang)

        def money(value: Decimal, lang: str = lang) -> str:
            sign = "$" if lang == "en" else "US$"
            return f"{sign}{value:,.2f}"

        assert payment_error(exc, t, money) == expected


def test_every_pattern_has_words_in_both_catalogs() -> None:
    for lang in ("en", "zh-CN"):
        messages = catalog(lang)
        for _, key in _TABLE:
            assert f"payerr.{key}" in messages, (lang, key)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_every_order_state_has_its_words(lang: str) -> None:
    """States are looked up by computed keys: each family holds every state."""
    messages = catalog(lang)
    for status in ORDER_STATUSES:
        for family in ("order.status", "order.explain", "payment.head"):
            assert f"{family}.{status}" in messages, (family, status)
    for status in ("failed", "expired", "cancelled"):
        assert f"payment.body.{status}" in messages
    for state in ("active", "paused", "cancelled", "expired"):
        assert f"subscriptions.states.{state}" in messages
    for kind in ("topup", "subscription"):
        assert f"order.kind.{kind}" in messages
    for method in ("stripe", "balance"):
        assert f"order.method.{method}" in messages
