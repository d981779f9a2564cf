"""Numbers, money and dates per language (R15.1), through Babel's CLDR data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from torouter.console.formatting import Formatter

UTC = ZoneInfo("UTC")
T = dt.datetime(2025, 6, 1, 20, 5, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("lang", "nusd", "text"),
    [
        ("en", 10_000_000_000, "$10.00"),
        ("en", 1_234_567_890_123, "$1,234.57"),  # two decimals from a dollar up
        ("en", 15_750_000, "$0.0158"),  # SPEC R10.4's example request, to a hundredth of a cent
        ("en", 123_456, "$0.00012346"),
        ("en", -2_500_000_000, "-$2.50"),
        ("en", 0, "$0.00"),
        ("zh-CN", 10_000_000_000, "US$10.00"),
        ("zh-CN", 1_234_567_890_123, "US$1,234.57"),
    ],
)
def test_usd(lang: str, nusd: int, text: str) -> None:
    assert Formatter(lang, UTC).usd(nusd) == text


def test_cny_beside_usd_only_with_a_rate() -> None:
    shown = Formatter("zh-CN", UTC, currency="CNY", cny_rate=Decimal("7.2"))
    assert shown.money(10_000_000_000) == "US$10.00 ≈ ¥72.00"
    assert Formatter("zh-CN", UTC, currency="CNY").money(10_000_000_000) == "US$10.00"
    assert Formatter("en", UTC, cny_rate=Decimal("7.2")).money(10**9) == "$1.00"


def test_numbers_dates_and_relative_times() -> None:
    en, zh = Formatter("en", UTC), Formatter("zh-CN", ZoneInfo("Asia/Shanghai"))
    assert en.number(1_048_576) == "1,048,576" and en.number(None) == "—"
    assert en.date(T) == "Jun 1, 2025"
    assert zh.date(T) == "2025年6月2日"  # the deployment timezone decides the day
    assert en.datetime(T).startswith("Jun 1, 2025") and "8:05" in en.datetime(T)
    assert zh.datetime(T) == "2025年6月2日 04:05"
    assert en.ago(T - dt.timedelta(minutes=3), T) == "3 minutes ago"
    assert zh.ago(T - dt.timedelta(minutes=3), T) == "3分钟前"
    assert en.iso(T) == "2025-06-01T20:05:00Z"
    assert en.price("0.15") == "$0.15" and en.price(None) == "—"


def test_round_amounts_on_buttons() -> None:
    """Top-up presets: `$20`, `$1,000`; an amount with cents keeps them."""
    en, zh = Formatter("en", UTC), Formatter("zh-CN", UTC)
    assert en.whole_usd(Decimal("20.00")) == "$20" and en.whole_usd(Decimal(1000)) == "$1,000"
    assert en.whole_usd(Decimal("12.5")) == "$12.50"
    assert zh.whole_usd(Decimal(5000)) == "US$5,000"


def test_exact_amounts_percentages_days_and_form_values() -> None:
    """R15.1: the usage pages' numbers per language; a running balance shows every nUSD."""
    en = Formatter("en", ZoneInfo("Asia/Shanghai"))
    zh = Formatter("zh-CN", ZoneInfo("Asia/Shanghai"))
    assert en.exact_money(19_962_222_500) == "$19.9622225"
    assert en.exact_money(-37_777_500) == "-$0.0377775"
    assert en.exact_money(20 * 10**9) == "$20.00"
    assert zh.exact_money(20 * 10**9) == "US$20.00"
    assert en.decimal("1.5") == "1.5" and en.decimal("1000000") == "1,000,000"
    assert en.decimal("0.000123") == "0.000123"
    assert en.percent(0.9712) == "97.1%" and en.percent(None) == "—"
    assert en.day(dt.date(2026, 3, 10)) == "Mar 10, 2026"
    assert zh.day(dt.date(2026, 3, 10)) == "2026年3月10日"
    assert Formatter.plain_usd(2_500_000_000) == "2.5"
    assert Formatter.plain_usd(10 * 10**9) == "10"
    assert Formatter.plain_usd(1_000) == "0.000001"
    when = dt.datetime(2026, 3, 10, 2, 3, 4, tzinfo=dt.UTC)
    assert en.datetime_seconds(when) == "Mar 10, 2026 10:03:04\u202fAM"
