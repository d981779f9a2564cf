"""Channel selection (SPEC R9.2). Pure: inputs in, one channel out.

eligible → lowest priority value → least recently used (stamps truncated to a granularity,
never-used first) → weighted random among the ties.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping, Sequence

from torouter.records import ChannelRec

__all__ = ["select_channel"]


def select_channel(
    candidates: Sequence[ChannelRec],
    *,
    tried: Collection[int] = (),
    last_used_ms: Mapping[int, int] | None = None,
    granularity_ms: int = 1000,
    is_available: Callable[[ChannelRec], bool] | None = None,
    rng: random.Random | None = None,
) -> ChannelRec | None:
    eligible = [
        c
        for c in candidates
        if c.status == "enabled" and c.id not in tried and (is_available is None or is_available(c))
    ]
    if not eligible:
        return None
    best = min(c.priority for c in eligible)
    tier = [c for c in eligible if c.priority == best]
    if len(tier) > 1 and last_used_ms is not None:
        g = max(granularity_ms, 1)

        def stamp(c: ChannelRec) -> int:
            used = last_used_ms.get(c.id)
            return -1 if used is None else used // g

        oldest = min(stamp(c) for c in tier)
        tier = [c for c in tier if stamp(c) == oldest]
    if len(tier) == 1:
        return tier[0]
    return (rng or random).choices(tier, weights=[c.weight for c in tier])[0]
