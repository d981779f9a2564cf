"""The identity memo: one computation per object, never a stale answer for another object."""

from __future__ import annotations

from decimal import Decimal

from torouter.billing import pricing
from torouter.memo import IdentityMemo
from torouter.protocols.internal import Usage
from torouter.records import Prices


def test_one_call_per_object_and_equal_objects_are_separate() -> None:
    calls: list[object] = []

    def compute(p: Prices) -> Decimal:
        calls.append(p)
        return p.input

    memo = IdentityMemo(compute)
    a, b = Prices(input=Decimal(2)), Prices(input=Decimal(2))
    assert a == b and a is not b
    assert memo(a) == memo(a) == memo(b) == Decimal(2)
    assert calls == [a, b]  # equal but distinct objects: computed once each


def test_a_full_memo_starts_over_and_stays_correct() -> None:
    memo = IdentityMemo(lambda p: p.output, maxsize=2)
    kept = [Prices(output=Decimal(i)) for i in range(5)]  # alive: ids never reused
    for _ in range(2):
        assert [memo(p) for p in kept] == [Decimal(i) for i in range(5)]
    assert len(memo._entries) <= 2


def test_an_id_reused_after_collection_is_not_mistaken() -> None:
    """Entries hold their key, so an id is only reused once its entry is gone; and a hit
    checks `is` anyway."""
    memo = IdentityMemo(lambda p: p.input)
    for i in range(200):  # short-lived objects: CPython reuses their addresses
        assert memo(Prices(input=Decimal(i))) == Decimal(i)


def test_cost_uses_the_new_prices_after_a_snapshot_reload() -> None:
    usage = Usage(input=1_000_000, output=0)
    old, new = Prices(input=Decimal(2)), Prices(input=Decimal(3))
    assert pricing.cost_nusd(usage, old) == 2 * 10**9
    assert pricing.cost_nusd(usage, new) == 3 * 10**9
    assert pricing.cost_nusd(usage, old) == 2 * 10**9
