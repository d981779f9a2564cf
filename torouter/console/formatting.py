"""Numbers, money and times as each language writes them (R15.1), through Babel (CLDR).

Money is integer nUSD everywhere; it is shown in USD with two decimals, more only when the
amount needs them (a request can cost $0.000123). With the display currency CNY and an
operator-set rate, the CNY amount follows the USD one (SPEC §0: "display in USD, optionally
also CNY"). Times are shown in the deployment timezone.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time, format_timedelta
from babel.numbers import format_currency, format_decimal, format_percent

__all__ = ["NANO", "Formatter"]

NANO = Decimal(10) ** 9
# Two decimals from $1 up; below, as many as a small amount needs (a request can cost
# $0.000123): up to 4 from a cent, up to 8 under it.
_MONEY = (
    (Decimal(1), "¤#,##0.00"),
    (Decimal("0.01"), "¤#,##0.00##"),
    (Decimal(0), "¤#,##0.00######"),
)
_LOCALES = {"en": "en_US", "zh-CN": "zh_Hans_CN"}
_JUST_NOW = dt.timedelta(seconds=30)


class Formatter:
    __slots__ = ("cny_rate", "currency", "locale", "tz")

    def __init__(
        self,
        lang: str,
        tz: ZoneInfo,
        *,
        currency: str | None = None,
        cny_rate: Decimal | None = None,
    ) -> None:
        self.locale = _LOCALES.get(lang, "en_US")
        self.tz = tz
        self.currency = currency or "USD"
        self.cny_rate = cny_rate

    # -- numbers and money ------------------------------------------------------------------

    def number(self, value: int | float | Decimal | None) -> str:
        return "—" if value is None else format_decimal(value, locale=self.locale)

    def decimal(self, value: str | Decimal | None) -> str:
        """An exact decimal (a quantity, a multiplier) with every digit it has."""
        if value is None:
            return "—"
        exact = Decimal(value)
        digits = max(0, -int(exact.normalize().as_tuple().exponent))
        pattern = "#,##0" + ("." + "#" * digits if digits else "")
        return format_decimal(exact, format=pattern, locale=self.locale)

    def percent(self, ratio: float | None) -> str:
        """0.9712 → `97.1%` (one decimal: success rates near 100 % differ in it)."""
        if ratio is None:
            return "—"
        return format_percent(ratio, format="#,##0.#%", locale=self.locale)

    def usd(self, nusd: int | None) -> str:
        if nusd is None:
            return "—"
        return self._currency(Decimal(nusd) / NANO, "USD")

    def money(self, nusd: int | None) -> str:
        """USD, followed by `≈ ¥…` when the user shows CNY and a rate is set."""
        text = self.usd(nusd)
        if nusd is None or self.currency != "CNY" or not self.cny_rate:
            return text
        cny = self._currency(Decimal(nusd) / NANO * self.cny_rate, "CNY", digits=2)
        return f"{text} ≈ {cny}"

    @staticmethod
    def plain_usd(nusd: int) -> str:
        """A USD amount as a form field holds it: `12.5`, `0.000001` (no symbol, no grouping)."""
        return format((Decimal(nusd) / NANO).normalize(), "f")

    def exact_money(self, nusd: int | None) -> str:
        """Every nUSD shown (up to 9 decimals, at least 2): a running balance that a usage
        batch of $0.000136 changed must not read the same before and after."""
        if nusd is None:
            return "—"
        amount = Decimal(nusd) / NANO
        text = format_currency(
            amount, "USD", format="¤#,##0.00#######", locale=self.locale, currency_digits=False
        )
        if self.currency != "CNY" or not self.cny_rate:
            return text
        return f"{text} ≈ {self._currency(amount * self.cny_rate, 'CNY', digits=2)}"

    def whole_usd(self, usd: Decimal) -> str:
        """A round amount as people write it on a button: `$20`, `$1,000` (`$12.50` if not)."""
        if usd != usd.to_integral_value():
            return self.price(usd)
        return format_currency(
            usd, "USD", format="¤#,##0", locale=self.locale, currency_digits=False
        )

    def price(self, usd: str | Decimal | None) -> str:
        """An exact decimal USD price (per 1M tokens or per unit)."""
        if usd is None:
            return "—"
        return self._currency(Decimal(usd), "USD")

    def _currency(self, amount: Decimal, code: str, digits: int | None = None) -> str:
        if digits is not None:
            amount = amount.quantize(Decimal(1).scaleb(-digits))
        pattern = next(p for floor, p in _MONEY if abs(amount) >= floor)
        return format_currency(
            amount, code, format=pattern, locale=self.locale, currency_digits=False
        )

    # -- times --------------------------------------------------------------------------------

    def local(self, when: dt.datetime) -> dt.datetime:
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return when.astimezone(self.tz)

    def date(self, when: dt.datetime | None) -> str:
        return "—" if when is None else format_date(self.local(when), "medium", locale=self.locale)

    def datetime(self, when: dt.datetime | None) -> str:
        if when is None:
            return "—"
        local = self.local(when)
        return (
            f"{format_date(local, 'medium', locale=self.locale)} "
            f"{format_time(local, 'short', locale=self.locale)}"
        )

    def day(self, day: dt.date | None) -> str:
        """A calendar day (already in the deployment timezone)."""
        return "—" if day is None else format_date(day, "medium", locale=self.locale)

    def datetime_seconds(self, when: dt.datetime | None) -> str:
        if when is None:
            return "—"
        local = self.local(when)
        return (
            f"{format_date(local, 'medium', locale=self.locale)} "
            f"{format_time(local, 'medium', locale=self.locale)}"
        )

    def ago(self, when: dt.datetime | None, now: dt.datetime) -> str:
        """`3 minutes ago`, `in 2 days` (relative to `now`)."""
        if when is None:
            return "—"
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        delta = when - now
        if dt.timedelta(0) <= delta < _JUST_NOW:
            # Something that happened while the page was being made (a Test just run): the
            # page's own clock is a moment behind, so say "1 second ago", not "in 0 seconds".
            delta = -dt.timedelta(seconds=1)
        return format_timedelta(delta, add_direction=True, threshold=1.0, locale=self.locale)

    def iso(self, when: dt.datetime | None) -> str:
        """For `<time datetime>`: machine-readable UTC."""
        if when is None:
            return ""
        return self.local(when).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
