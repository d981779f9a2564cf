"""The shared-state seam: counters with atomic reservations (SPEC R7.11).

Every limited quantity is a counter of *used* nano-USD with an optional limit. A reservation
checks `used + in_flight + amount <= limit` for all its counters and adds `amount` to their
`in_flight` at once; settlement swaps the reservation for the actual amount; release drops it.
A prepaid balance is the counter `bal:<user>` holding the negated balance with limit 0, so
`balance - in_flight - estimate >= 0` is the same check as every cap.

`memory.py` implements this for one process; a Redis backend (Lua) implements the same
interface for many.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Hold", "StateBackend"]


@dataclass(frozen=True, slots=True)
class Hold:
    counter: str
    limit: int | None  # None: tracked, never blocks


class StateBackend(Protocol):
    async def reserve(self, admission_id: str, holds: Sequence[Hold], amount: int) -> str | None:
        """Reserve `amount` on every hold atomically; return the first blocking counter."""

    async def settle(self, admission_id: str, actual: int) -> bool:
        """Replace the reservation by `actual`; False if it was already settled."""

    async def release(self, admission_id: str) -> bool:
        """Drop the reservation without charge; False if already gone."""

    async def add(self, counter: str, amount: int) -> None:
        """Change a counter's committed value (top-ups, seeding)."""

    async def seed(self, counter: str, used: int) -> None:
        """Set a counter's committed value if it is not known yet."""

    async def used(self, counter: str) -> tuple[int, int]:
        """(committed, in flight) of a counter."""
