"""Refunds (SPEC R14.5, R14.9; issue 15 item 4): spent-first refundable amounts, approve and
reject, the idempotency key `refund-<order id>`, the `refund_reversal` when Stripe fails, a
retry that works, a refund that fails later, an attempt a crash interrupted."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.api.test_me_keys import assert_error
from tests.billing.payments.shop import SECRET_KEY, USD, Shop
from torouter.billing.payments import refund_flow
from torouter.billing.payments import refunds as rf
from torouter.billing.payments.amounts import Credit, refundable
from torouter.storage.repos.ledger import add_ledger_entry


@pytest.mark.parametrize(
    ("balance", "amount", "later", "expected"),
    [
        (20, 20, [], 20),  # nothing spent
        (15, 20, [], 15),  # 5 spent: from this, the oldest
        (23, 10, [20, 5], 0),  # the newer 25 still covers the balance: this one is spent
        (23, 20, [5], 18),
        (0, 10, [], 0),
        (-3, 10, [], 0),  # a balance below zero refunds nothing
        (100, 10, [], 10),  # never more than the order
    ],
)
def test_refundable_is_spent_first(
    balance: int, amount: int, later: list[int], expected: int
) -> None:
    assert refundable(balance, amount, [Credit(c) for c in later]) == expected


async def paid_topup(shop: Shop, me: httpx.AsyncClient, amount: str) -> dict[str, Any]:
    order = await shop.topup(me, amount)
    await shop.pay(order["id"])
    return order


async def spend(shop: Shop, uid: int, usd: int, ref: str) -> None:
    async with shop.db.begin() as conn:
        await add_ledger_entry(
            conn, user_id=uid, amount_nusd=-usd * USD, reason="usage", reference=ref
        )
    await shop.ledger.credit(uid, -usd * USD)


async def admin_credit(shop: Shop, uid: int, usd: int) -> None:
    r = await shop.admin.post(
        f"/api/admin/users/{uid}/balance", json={"amount_usd": str(usd), "reason": "gift"}
    )
    assert r.status_code == 201, r.text


async def test_spent_first_request_and_approval(shop: Shop) -> None:
    uid = await shop.user()
    me = await shop.browser(uid)
    a = await paid_topup(shop, me, "10")
    b = await paid_topup(shop, me, "20")
    await admin_credit(shop, uid, 5)
    await spend(shop, uid, 12, "u1")  # balance 23: all of A spent, 2 of B

    r = await me.post(f"/api/me/orders/{a['id']}/refund", json={"reason": "changed my mind"})
    assert_error(r, 409, "CONFLICT")
    assert "spent" in r.json()["error"]["message"]
    r = await me.post(f"/api/me/orders/{b['id']}/refund", json={"reason": "changed my mind"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["status"], got["refundable_nusd"], got["refund_reason"]) == (
        "refund_requested",
        18 * USD,
        "changed my mind",
    )
    listed = (await shop.admin.get("/api/admin/orders?status=refund_requested")).json()["data"]
    assert [(o["id"], o["refundable_nusd"], o["user_email"]) for o in listed] == [
        (b["id"], 18 * USD, "buyer@example.com")
    ]

    r = await shop.admin.post(f"/api/admin/orders/{b['id']}/refund/approve", json={"note": "ok"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert (done["status"], done["refund_amount_nusd"], done["refund_note"]) == (
        "refunded",
        18 * USD,
        "ok",
    )
    assert done["stripe_refund_id"].startswith("re_") and done["refunded_at"]
    assert await shop.balance(uid) == 5 * USD and await shop.counter(uid) == 5 * USD
    assert ("refund", -18 * USD, f"{b['id']}:1") in await shop.entries(uid)
    refund = shop.fake.account.refunds[done["stripe_refund_id"]]
    assert (refund["amount"], refund["metadata"]) == (1800, {"order_id": b["id"]})
    assert shop.fake.idempotency.get(SECRET_KEY, f"refund-{b['id']}") is not None
    # Once per order.
    r = await me.post(f"/api/me/orders/{b['id']}/refund", json={"reason": "again"})
    assert_error(r, 409, "CONFLICT")


async def test_approve_a_part_and_amount_validation(shop: Shop) -> None:
    uid = await shop.user()
    me = await shop.browser(uid)
    o = await paid_topup(shop, me, "20")
    await me.post(f"/api/me/orders/{o['id']}/refund", json={"reason": "r"})
    path = f"/api/admin/orders/{o['id']}/refund/approve"
    for bad in ("20.01", "0", "1.005", "-1"):
        r = await shop.admin.post(path, json={"amount_usd": bad})
        assert_error(r, 400, "INVALID_REQUEST", "amount_usd")
    r = await shop.admin.post(path, json={"amount_usd": "7.50", "note": "less fees"})
    assert r.status_code == 200 and r.json()["refund_amount_nusd"] == 7_500_000_000
    assert await shop.balance(uid) == 12_500_000_000


async def test_reject_and_the_refund_window(shop: Shop) -> None:
    uid = await shop.user()
    me = await shop.browser(uid)
    o = await paid_topup(shop, me, "10")
    late = await paid_topup(shop, me, "10")
    await me.post(f"/api/me/orders/{o['id']}/refund", json={"reason": "r"})
    r = await shop.admin.post(f"/api/admin/orders/{o['id']}/refund/reject", json={})
    assert_error(r, 400, "INVALID_REQUEST", "note")
    r = await shop.admin.post(f"/api/admin/orders/{o['id']}/refund/reject", json={"note": "no"})
    assert (r.json()["status"], r.json()["refund_note"]) == ("refund_rejected", "no")
    assert_error(
        await me.post(f"/api/me/orders/{o['id']}/refund", json={"reason": "r"}), 409, "CONFLICT"
    )
    r = await shop.admin.post(f"/api/admin/orders/{o['id']}/refund/approve", json={})
    assert_error(r, 409, "CONFLICT")
    shop.clock.advance(days=31)
    r = await me.post(f"/api/me/orders/{late['id']}/refund", json={"reason": "r"})
    assert_error(r, 409, "CONFLICT")
    assert "30 days" in r.json()["error"]["message"]
    assert await shop.balance(uid) == 20 * USD


async def test_a_failed_refund_is_reversed_and_can_be_retried(shop: Shop) -> None:
    uid = await shop.user()
    me = await shop.browser(uid)
    o = await paid_topup(shop, me, "10")
    await me.post(f"/api/me/orders/{o['id']}/refund", json={"reason": "r"})
    await shop.fake.control("POST", "/refunds/fail_next", {"count": 1})
    path = f"/api/admin/orders/{o['id']}/refund/approve"

    r = await shop.admin.post(path, json={})
    assert_error(r, 502, "upstream_unavailable")
    row = await shop.order_row(o["id"])
    assert row["status"] == "refund_requested" and "insufficient funds" in row["refund_error"]
    assert await shop.balance(uid) == 10 * USD and await shop.counter(uid) == 10 * USD
    assert [e[0] for e in await shop.entries(uid)] == ["topup", "refund", "refund_reversal"]
    assert shop.fake.account.refunds == {}

    r = await shop.admin.post(path, json={})  # the retry goes through
    assert r.status_code == 200 and r.json()["status"] == "refunded", r.text
    assert r.json()["refund_error"] is None
    assert await shop.balance(uid) == 0 and await shop.counter(uid) == 0
    assert len(shop.fake.account.refunds) == 1
    # A fresh key for the retry: Stripe would replay the failure under the first one.
    assert shop.fake.idempotency.get(SECRET_KEY, f"refund-{o['id']}-2") is not None


async def test_a_retry_adopts_a_refund_stripe_already_made(shop: Shop) -> None:
    """The first attempt's answer was lost but Stripe refunded: the retry records that refund
    instead of refunding twice, and the ledger follows Stripe's amount."""
    uid = await shop.user()
    me = await shop.browser(uid)
    o = await paid_topup(shop, me, "10")
    await me.post(f"/api/me/orders/{o['id']}/refund", json={"reason": "r"})
    await shop.fake.control(
        "POST", "/refunds/fail_next", {"status": 500, "type": "api_error", "code": None}
    )
    path = f"/api/admin/orders/{o['id']}/refund/approve"
    assert_error(await shop.admin.post(path, json={}), 502, "upstream_unavailable")
    pi = (await shop.order_row(o["id"]))["stripe_payment_intent"]
    shop.fake.account.create_refund(
        {"payment_intent": pi, "amount": "400", "metadata": {"order_id": o["id"]}}
    )

    r = await shop.admin.post(path, json={})
    assert r.status_code == 200 and r.json()["refund_amount_nusd"] == 4 * USD
    assert len(shop.fake.account.refunds) == 1
    assert await shop.balance(uid) == 6 * USD and await shop.counter(uid) == 6 * USD


async def test_two_approvals_at_once_refund_once(shop: Shop) -> None:
    uid = await shop.user()
    me = await shop.browser(uid)
    o = await paid_topup(shop, me, "10")
    await me.post(f"/api/me/orders/{o['id']}/refund", json={"reason": "r"})
    path = f"/api/admin/orders/{o['id']}/refund/approve"
    answers = await asyncio.gather(*(shop.admin.post(path, json={}) for _ in range(4)))
    assert sorted(r.status_code for r in answers).count(200) == 1
    assert {r.status_code for r in answers} <= {200, 409}
    assert len(shop.fake.account.refunds) == 1 and await shop.balance(uid) == 0


async def test_a_refund_that_fails_later_gives_the_money_back(shop: Shop) -> None:
    uid = await shop.user()
    me = await shop.browser(uid)
    o = await paid_topup(shop, me, "10")
    await me.post(f"/api/me/orders/{o['id']}/refund", json={"reason": "r"})
    done = (await shop.admin.post(f"/api/admin/orders/{o['id']}/refund/approve", json={})).json()
    await shop.fake.control(
        "POST", f"/refunds/{done['stripe_refund_id']}/fail", {"reason": "lost_or_stolen_card"}
    )
    await shop.wait_status(o["id"], "refund_requested")
    row = await shop.order_row(o["id"])
    assert "lost_or_stolen_card" in row["refund_error"] and row["stripe_refund_id"] is None
    assert await shop.balance(uid) == 10 * USD and await shop.counter(uid) == 10 * USD
    r = await shop.admin.post(f"/api/admin/orders/{o['id']}/refund/approve", json={})
    assert r.json()["status"] == "refunded" and await shop.balance(uid) == 0


async def test_an_interrupted_attempt_is_resolved_by_the_job(shop: Shop) -> None:
    uid = await shop.user()
    me = await shop.browser(uid)
    o = await paid_topup(shop, me, "10")
    await me.post(f"/api/me/orders/{o['id']}/refund", json={"reason": "r"})
    async with shop.db.begin() as conn:  # the process died right after the debit
        await rf.begin_refund(
            conn, o["id"], amount_nusd=None, note=None, actor="t", now=shop.clock.now()
        )
    await shop.ledger.credit(uid, -10 * USD)
    r = await shop.admin.post(f"/api/admin/orders/{o['id']}/refund/approve", json={})
    assert_error(r, 409, "CONFLICT")  # an attempt is (apparently) running
    assert await refund_flow.resolve_interrupted(shop.payments) == 0  # not stale yet
    shop.clock.advance(minutes=11)
    assert await refund_flow.resolve_interrupted(shop.payments) == 1
    row = await shop.order_row(o["id"])
    assert (row["status"], row["refund_started_at"]) == ("refund_requested", None)
    assert await shop.balance(uid) == 10 * USD and await shop.counter(uid) == 10 * USD
    r = await shop.admin.post(f"/api/admin/orders/{o['id']}/refund/approve", json={})
    assert r.json()["status"] == "refunded"


async def test_only_top_ups_paid_by_card_are_refundable(shop: Shop) -> None:
    uid = await shop.user(balance_usd=50)
    me = await shop.browser(uid)
    from tests.billing.payments.test_subscriptions import make_plan

    plan = await make_plan(shop, price_usd="20")
    r = await me.post(
        "/api/me/orders", json={"kind": "subscription", "plan_id": plan, "method": "balance"}
    )
    assert r.status_code == 201
    r = await me.post(f"/api/me/orders/{r.json()['id']}/refund", json={"reason": "r"})
    assert_error(r, 409, "CONFLICT")
