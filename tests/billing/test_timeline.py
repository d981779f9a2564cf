"""Ledger references read back for the money timeline (R14.1, R15.4)."""

from __future__ import annotations

import pytest

from torouter.api.money import nusd_to_usd
from torouter.billing.money import usd_text
from torouter.billing.timeline import Reference, reference_of


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        (None, None),
        ("", None),
        ("ord_01J0ABC", Reference("order", order_id="ord_01J0ABC")),
        ("ord_01J0ABC:2", Reference("order", order_id="ord_01J0ABC")),  # a refund's
        ("ord_01J0ABC:re_1:failed", Reference("order", order_id="ord_01J0ABC")),
        ("usage:01JBATCH:7", Reference("usage_batch", batch_id="01JBATCH")),
        ("admin:01JADMIN", Reference("admin")),
        ("sub:12:01JX", Reference("subscription", subscription_id=12)),
        ("renew:12:1767225600", Reference("renewal", subscription_id=12)),
        ("demo:welcome", Reference("demo")),
        ("provision:a@example.com", Reference("provision")),
        ("t0", Reference("other")),
    ],
)
def test_reference_of(reference: str | None, expected: Reference | None) -> None:
    assert reference_of(reference) == expected


@pytest.mark.parametrize("nusd", [0, 1, -1, 999_999_999, 10**9, -(10**9) - 1, 2**63 - 1])
def test_usd_text_is_the_api_form(nusd: int) -> None:
    assert usd_text(nusd) == nusd_to_usd(nusd)
