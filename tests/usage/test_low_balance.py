"""When the low-balance notice fires (R15.4): once per dip below the threshold. Pure."""

from __future__ import annotations

import pytest

from torouter.usage.low_balance import decide, initial_notified


@pytest.mark.parametrize(
    ("before", "after", "threshold", "notified", "verdict"),
    [
        (10, 6, None, False, None),  # no threshold: nothing
        (10, 6, 5, False, None),  # still above
        (6, 4, 5, False, "notify"),  # crosses below
        (4, 3, 5, True, None),  # still below, already mailed
        (4, 3, 5, False, "notify"),  # below and armed (e.g. a debit elsewhere took it under)
        (13, 2, 5, True, "notify"),  # was back above (a top-up elsewhere): a new dip
        (5, 4, 5, True, "notify"),  # at the threshold counts as above
        (4, 5, 5, True, "rearm"),  # back at the threshold: armed again
        (4, 9, 5, False, None),  # above and armed: nothing to do
        (-3, -4, 0, False, "notify"),  # a zero threshold warns of a negative balance
    ],
)
def test_decide(
    before: int, after: int, threshold: int | None, notified: bool, verdict: str | None
) -> None:
    assert decide(before=before, after=after, threshold=threshold, notified=notified) == verdict


def test_a_threshold_set_below_the_balance_starts_armed() -> None:
    assert initial_notified(10, 5) is False
    assert initial_notified(3, 5) is True
    assert initial_notified(3, None) is False
