"""Channel selection (SPEC R9.2): priority tiers, LRU, weighted random among ties."""

import random
from collections import Counter

from torouter.records import ChannelRec
from torouter.routing.selector import select_channel


def ch(cid: int, priority: int = 0, weight: int = 1, status: str = "enabled") -> ChannelRec:
    return ChannelRec(
        id=cid,
        name=f"c{cid}",
        platform="openai",
        base_url="http://x",
        credential="k",
        models=frozenset({"m"}),
        model_mapping={},
        priority=priority,
        weight=weight,
        connect_timeout=1,
        first_byte_timeout=1,
        stream_idle_timeout=1,
        status=status,
        max_concurrency=0,
        options={},
    )


def test_lowest_priority_value_wins_and_worse_tier_only_when_needed() -> None:
    a, b = ch(1, priority=0), ch(2, priority=5)
    assert select_channel([b, a]) is a
    assert select_channel([b, a], tried={1}) is b
    assert select_channel([b, ch(1, status="disabled")]) is b
    assert select_channel([ch(1, status="auto_disabled")]) is None


def test_least_recently_used_first_never_used_before_all() -> None:
    a, b, c = ch(1), ch(2), ch(3)
    last = {1: 5000, 2: 1000}
    assert select_channel([a, b, c], last_used_ms=last) is c
    last[3] = 9000
    assert select_channel([a, b, c], last_used_ms=last) is b


def test_weights_share_ties_within_five_percent() -> None:
    rng = random.Random(7)
    chans = [ch(1, weight=1), ch(2, weight=3), ch(3, weight=6)]
    frozen = {1: 0, 2: 0, 3: 0}  # clock frozen: every stamp ties
    picks = Counter(
        select_channel(chans, last_used_ms=frozen, rng=rng).id
        for _ in range(10_000)  # type: ignore[union-attr]
    )
    for c in chans:
        share = picks[c.id] / 10_000
        want = c.weight / 10
        assert abs(share - want) / want < 0.05
