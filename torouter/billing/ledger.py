"""Reservations against every limit before the upstream call (SPEC R7.10, R7.11).

The holds of one request: the key's spend cap, then the balance (balance groups). They are
checked and reserved atomically by the state backend; settlement swaps the estimate for the
actual cost; failure releases it; each admission settles once.
"""

from __future__ import annotations

from torouter.access.admission import Admission
from torouter.errors import error
from torouter.state.base import Hold, StateBackend

__all__ = ["Ledger", "balance_counter", "key_counter"]


def key_counter(key_id: int) -> str:
    return f"key:{key_id}"


def balance_counter(user_id: int) -> str:
    return f"bal:{user_id}"


class Ledger:
    def __init__(self, state: StateBackend) -> None:
        self.state = state

    def holds(self, adm: Admission) -> list[Hold]:
        holds = [Hold(key_counter(adm.key.id), adm.key.quota_nusd or None)]
        if adm.group.billing_type == "balance":
            holds.append(Hold(balance_counter(adm.user.id), 0))
        return holds

    async def reserve(self, admission_id: str, adm: Admission, estimate: int) -> None:
        blocked = await self.state.reserve(admission_id, self.holds(adm), estimate)
        if blocked is None:
            return
        if blocked.startswith("key:"):
            raise error("E12")
        raise error("E11")

    async def settle(self, admission_id: str, cost: int) -> bool:
        return await self.state.settle(admission_id, cost)

    async def release(self, admission_id: str) -> bool:
        return await self.state.release(admission_id)

    async def seed(self, *, user_balances: dict[int, int], key_spend: dict[int, int]) -> None:
        """Committed values from the database (start-up, and new users/keys on reload)."""
        for uid, bal in user_balances.items():
            await self.state.seed(balance_counter(uid), -bal)
        for kid, spent in key_spend.items():
            await self.state.seed(key_counter(kid), spent)

    async def credit(self, user_id: int, amount_nusd: int) -> None:
        """A balance change made elsewhere (top-up, admin credit): mirror it in the counters."""
        await self.state.add(balance_counter(user_id), -amount_nusd)
