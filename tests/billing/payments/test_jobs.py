"""Payment jobs (SPEC R14.3, R14.4; issue 15 items 2, 3, 8): expiry and the sync of pending
orders settle through the exactly-once path; each job runs on one node at a time (the shared
Redis lock), and so does the subscriptions job's auto-renewal."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import update

from tests.billing.payments.shop import USD, Shop
from tests.state.conftest import redis_url
from torouter.billing.payments.provider import CheckoutSession, PaymentProvider
from torouter.billing.payments.service import Payments, stripe_provider
from torouter.jobs.payments import PaymentJobs
from torouter.jobs.subscriptions import SubscriptionJobs
from torouter.storage.tables import orders


async def _order(shop: Shop, amount: str = "10") -> tuple[int, str]:
    uid = await shop.user(f"u{secrets.token_hex(3)}@example.com")
    me = await shop.browser(uid)
    return uid, (await shop.topup(me, amount))["id"]


async def test_expiry_asks_stripe_first(shop: Shop) -> None:
    _, unpaid = await _order(shop)
    paid_uid, paid = await _order(shop)
    shop.fake.webhooks.configure(mode="drop")
    shop.fake.account.pay(await shop.session_id(paid))
    jobs = PaymentJobs(shop.payments)
    expiry, _sync = await jobs.run_frequent()
    assert expiry.ran and expiry.result.checked == 0  # nothing is due yet

    shop.clock.advance(minutes=31)
    expiry, _sync = await jobs.run_frequent()
    assert expiry.result.expired == [unpaid] and expiry.result.credited == [paid]
    assert shop.fake.account.sessions[await shop.session_id(unpaid)]["status"] == "expired"
    assert await shop.status(unpaid) == "expired" and await shop.status(paid) == "paid"
    assert await shop.balance(paid_uid) == 10 * USD and await shop.counter(paid_uid) == 10 * USD


async def test_sync_settles_orders_pending_over_ten_minutes(shop: Shop) -> None:
    uid, o = await _order(shop, "13")
    shop.fake.webhooks.configure(mode="drop")
    shop.fake.account.pay(await shop.session_id(o))
    jobs = PaymentJobs(shop.payments)
    shop.clock.advance(minutes=5)
    _expiry, sync = await jobs.run_frequent()
    assert sync.result.checked == 0 and await shop.status(o) == "pending"
    shop.clock.advance(minutes=6)
    _expiry, sync = await jobs.run_frequent()
    assert sync.result.credited == [o]
    assert await shop.balance(uid) == 13 * USD and await shop.counter(uid) == 13 * USD
    _expiry, sync = await jobs.run_frequent()  # again: nothing left to do
    assert sync.result.checked == 0


async def test_an_order_whose_checkout_was_never_created_fails(shop: Shop) -> None:
    _, o = await _order(shop)
    async with shop.db.begin() as conn:  # a crash between the order and its session
        await conn.execute(update(orders).where(orders.c.id == o).values(stripe_session_id=None))
    shop.clock.advance(minutes=11)
    await PaymentJobs(shop.payments).run_frequent()
    assert await shop.status(o) == "failed"


async def test_without_payment_settings_the_jobs_do_nothing(shop: Shop) -> None:
    shop.payments.file_settings = shop.payments.file_settings.model_copy(
        update={"stripe_secret_key": None}
    )
    jobs = PaymentJobs(shop.payments)
    assert await jobs.run_frequent() == []
    assert not (await jobs.run_reconcile()).ran


# -- one node at a time ----------------------------------------------------------------------------


@pytest.fixture
async def redis_locks() -> AsyncIterator[Any]:
    """Two nodes' lock factories, each on its own Redis connection."""
    from torouter.state.redis import connect
    from torouter.state.redis_lock import redis_lock_factory

    clients = [connect(redis_url(), timeout_s=5.0) for _ in range(2)]
    prefix = f"torouter:test:{secrets.token_hex(4)}:lock:"
    try:
        yield clients, [redis_lock_factory(c, prefix=prefix) for c in clients], prefix
    finally:
        for c in clients:
            await c.aclose()


class Gated:
    """A provider whose first session lookup waits for the test (a slow Stripe call)."""

    def __init__(self) -> None:
        self.inner: Any = None
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def retrieve_session(
        self, session_id: str, *, with_receipt: bool = False
    ) -> CheckoutSession:
        if not self.entered.is_set():
            self.entered.set()
            await self.gate.wait()
        return await self.inner.retrieve_session(session_id, with_receipt=with_receipt)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.redis
async def test_two_nodes_never_run_one_payment_job_at_once(shop: Shop, redis_locks: Any) -> None:
    _, (lock_a, lock_b), _ = redis_locks
    uid, o = await _order(shop, "21")
    shop.fake.webhooks.configure(mode="drop")
    shop.fake.account.pay(await shop.session_id(o))
    shop.clock.advance(minutes=31)  # due for expiry and for sync
    gated = Gated()

    def factory(cfg: Any) -> PaymentProvider:
        gated.inner = stripe_provider(cfg)
        return gated  # type: ignore[return-value]

    def node(lock: Any, make: Any) -> PaymentJobs:
        p = Payments(
            db=shop.db,
            ledger=shop.ledger,
            snapshot=shop.snapshot,
            file_settings=shop.payments.file_settings,
            keyring=shop.payments.keyring,
            base_url="http://console.test",
            subscribe=shop.payments.subscribe,
            clock=shop.clock.now,
            provider_factory=make,
        )
        return PaymentJobs(p, lock=lock, node=str(lock))

    a = node(lock_a, factory)
    b = node(lock_b, lambda cfg: stripe_provider(cfg))
    first = asyncio.create_task(a.run_frequent())
    await asyncio.wait_for(gated.entered.wait(), 30)
    expiry_b, sync_b = await b.run_frequent()  # A is inside payments:expiry
    assert not expiry_b.ran and sync_b.ran
    gated.gate.set()
    expiry_a, _ = await first
    assert expiry_a.ran
    assert await shop.entries(uid) == [("topup", 21 * USD, o)]
    for jobs in (a, b):
        await jobs.payments.aclose()


@pytest.mark.redis
async def test_a_job_held_by_another_node_is_skipped(shop: Shop, redis_locks: Any) -> None:
    (client, _), (lock_a, _), prefix = redis_locks
    jobs = PaymentJobs(shop.payments, lock=lock_a)
    await client.set(prefix + "jobs:payments:reconcile", "other-node", px=60_000)
    assert not (await jobs.run_reconcile()).ran
    await client.delete(prefix + "jobs:payments:reconcile")
    assert (await jobs.run_reconcile()).ran
    # The subscriptions job (auto-renewal from the balance) takes the same kind of lock.
    subs = SubscriptionJobs(shop.db, shop.ledger, shop.snapshot, lock=lock_a)
    await client.set(prefix + "jobs:subscriptions", "other-node", px=60_000)
    assert not (await subs.run_once()).ran
    await client.delete(prefix + "jobs:subscriptions")
    assert (await subs.run_once()).ran
