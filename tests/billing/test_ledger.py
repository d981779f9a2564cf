"""The ledger over both state backends: refusal mapping, fail-closed and reseeding (R7.11)."""

from __future__ import annotations

import contextlib
import logging
from decimal import Decimal

import pytest

from torouter.access.admission import Admission
from torouter.billing.ledger import Ledger, balance_counter
from torouter.billing.pricing import Prices
from torouter.errors import GatewayError
from torouter.records import GroupRec, KeyLimits, KeyRec, ModelRec, Snapshot, UserRec
from torouter.state.memory import MemoryState

NOW = 1_800_000_000.0


def world(uid: int, balance: int, **limits: int) -> tuple[Snapshot, Admission]:
    user = UserRec(uid, f"u{uid}@example.com", "active", "user", balance)
    key = KeyRec(
        uid * 10,
        uid,
        1,
        "k",
        "sk-…",
        "active",
        None,
        limits.get("quota_nusd") or None,
        None,
        (),
        (),
        0,
        KeyLimits(**limits),
    )
    group = GroupRec(
        1, "g", "balance", Decimal(1), "enabled", "public", ("m",), frozenset({"m"}), frozenset()
    )
    model = ModelRec(
        "m",
        "m",
        "openai",
        "text",
        frozenset(),
        None,
        None,
        False,
        {},
        "x",
        0,
        Prices.with_defaults(),
    )
    snap = Snapshot(users={uid: user}, keys={"h": key}, groups={1: group})
    return snap, Admission(key, user, group, model, ())


@pytest.fixture
def uid(scope: str) -> int:
    return int(scope)


async def test_admit_settle_and_the_refusal_order(state, uid: int) -> None:
    snap, adm = world(uid, 1000, quota_nusd=700, rpm=2)
    ledger = Ledger(state, clock=lambda: NOW)
    await ledger.on_snapshot(snap)
    ticket, verdict = await ledger.admit("a", adm, None, 600)
    assert [w.name for w in verdict.windows] == ["key_rpm"] and ledger.live == 1
    with pytest.raises(GatewayError) as info:
        await ledger.admit("b", adm, None, 200)
    assert info.value.code == "API_KEY_QUOTA_EXHAUSTED"  # key cap before balance (R7.10)
    assert await ledger.settle(ticket, 500, tokens=40) and ledger.live == 0
    assert await state.used(balance_counter(uid)) == (-500, 0)
    await ledger.admit("c", adm, None, 100)
    with pytest.raises(GatewayError) as info:
        await ledger.admit("d", adm, None, 1)
    assert info.value.code == "RATE_LIMIT_EXCEEDED"


async def test_empty_state_fails_closed_until_reseeded(state, uid: int, caplog) -> None:
    snap, adm = world(uid, 1000)
    held: list[bool] = []

    @contextlib.asynccontextmanager
    async def lock(name: str, ttl: float):
        held.append(True)
        yield True

    ledger = Ledger(state, clock=lambda: NOW, lock=lock)
    ledger._snap = snap  # as if this node had loaded it, then Redis came back empty
    ledger._seen_users = {uid}
    with caplog.at_level(logging.ERROR), pytest.raises(GatewayError) as info:
        await ledger.admit("a", adm, None, 10)
    assert info.value.code == "INTERNAL_ERROR" and "failed closed" in caplog.text
    assert ledger._reseeding is not None
    await ledger._reseeding
    assert held == [True]
    await ledger.admit("b", adm, None, 10)
    assert await state.used(balance_counter(uid)) == (-1000, 10)


async def test_unreachable_redis_is_e20() -> None:
    from torouter.state.redis import RedisState, connect

    _, adm = world(5, 1000)
    ledger = Ledger(RedisState(connect("redis://127.0.0.1:1/0", timeout_s=0.3)))
    with pytest.raises(GatewayError) as info:
        await ledger.admit("a", adm, None, 10)
    assert info.value.code == "INTERNAL_ERROR"


async def test_seeding_failure_after_start_does_not_block_reloads(uid: int) -> None:
    class Flaky(MemoryState):
        fail = False

        async def seed_many(self, items):  # type: ignore[no-untyped-def]
            if self.fail:
                from torouter.state.base import StateUnavailable

                raise StateUnavailable("down")
            await super().seed_many(items)

    state = Flaky()
    snap, _ = world(uid, 1)
    ledger = Ledger(state)
    await ledger.on_snapshot(snap)
    state.fail = True
    snap2, _ = world(uid + 1, 1)
    await ledger.on_snapshot(snap2)  # logged, not raised
