"""In-process state backend (embedded default, one worker).

Atomicity comes from the event loop: no method awaits between its check and its update.
"""

from __future__ import annotations

from collections.abc import Sequence

from torouter.state.base import Hold

__all__ = ["MemoryState"]


class MemoryState:
    def __init__(self) -> None:
        self._used: dict[str, int] = {}
        self._in_flight: dict[str, int] = {}
        self._reservations: dict[str, tuple[tuple[str, ...], int]] = {}

    async def reserve(self, admission_id: str, holds: Sequence[Hold], amount: int) -> str | None:
        used, flight = self._used, self._in_flight
        for h in holds:
            if h.limit is not None and (
                used.get(h.counter, 0) + flight.get(h.counter, 0) + amount > h.limit
            ):
                return h.counter
        names = tuple(h.counter for h in holds)
        for n in names:
            flight[n] = flight.get(n, 0) + amount
        self._reservations[admission_id] = (names, amount)
        return None

    async def settle(self, admission_id: str, actual: int) -> bool:
        res = self._reservations.pop(admission_id, None)
        if res is None:
            return False
        names, amount = res
        for n in names:
            self._in_flight[n] -= amount
            self._used[n] = self._used.get(n, 0) + actual
        return True

    async def release(self, admission_id: str) -> bool:
        res = self._reservations.pop(admission_id, None)
        if res is None:
            return False
        names, amount = res
        for n in names:
            self._in_flight[n] -= amount
        return True

    async def add(self, counter: str, amount: int) -> None:
        self._used[counter] = self._used.get(counter, 0) + amount

    async def seed(self, counter: str, used: int) -> None:
        self._used.setdefault(counter, used)

    async def used(self, counter: str) -> tuple[int, int]:
        return self._used.get(counter, 0), self._in_flight.get(counter, 0)
