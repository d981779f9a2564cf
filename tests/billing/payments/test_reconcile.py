"""Reconciliation (SPEC R14.10; issue 15 item 5): every mismatch between orders, the ledger and
Stripe is listed and repaired through the exactly-once paths; repairing twice does nothing."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update

from tests.api.test_me_keys import assert_error
from tests.billing.payments.shop import USD, Shop
from torouter.jobs.payments import PaymentJobs
from torouter.storage.repos.ledger import add_ledger_entry
from torouter.storage.tables import ledger, orders, users


async def mismatches(shop: Shop, **query: str) -> list[dict[str, Any]]:
    r = await shop.admin.get("/api/admin/payments/reconcile", params=query)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


async def repair(shop: Shop, mismatch_id: str) -> dict[str, Any]:
    r = await shop.admin.post("/api/admin/payments/reconcile/repair", json={"id": mismatch_id})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def buyer(shop: Shop) -> tuple[int, httpx.AsyncClient]:
    uid = await shop.user()
    return uid, await shop.browser(uid)


async def test_a_paid_session_whose_webhook_never_arrived(shop: Shop) -> None:
    uid, me = await buyer(shop)
    lost = await shop.topup(me, "20")
    fine = await shop.topup(me, "5")
    await shop.pay(fine["id"])
    shop.fake.webhooks.configure(mode="drop")  # its webhook never arrives
    shop.fake.account.pay(await shop.session_id(lost["id"]))
    async with shop.db.begin() as conn:  # and the order was expired locally meanwhile
        await conn.execute(update(orders).where(orders.c.id == lost["id"]).values(status="expired"))

    found = await mismatches(shop)
    assert [(m["kind"], m["order_id"], m["amount_nusd"]) for m in found] == [
        ("paid_not_credited", lost["id"], 20 * USD)
    ]
    m = found[0]
    assert m["id"] == f"paid_not_credited:{lost['id']}" and m["stripe_id"].startswith("cs_test_")
    assert m["repairable"] is True and m["user_id"] == uid

    result = await repair(shop, m["id"])
    assert (result["repaired"], result["balance_change_nusd"]) == (True, 20 * USD)
    row = await shop.order_row(lost["id"])
    assert (row["status"], row["note"]) == ("paid", "paid after the order was expired")
    assert await shop.balance(uid) == 25 * USD and await shop.counter(uid) == 25 * USD
    again = await repair(shop, m["id"])
    assert (again["repaired"], again["balance_change_nusd"]) == (False, 0)
    assert await mismatches(shop) == []


async def test_the_daily_job_repairs_money_that_was_not_credited(shop: Shop) -> None:
    uid, me = await buyer(shop)
    o = await shop.topup(me, "11")
    shop.fake.webhooks.configure(mode="drop")  # the webhook never arrives
    shop.fake.account.pay(await shop.session_id(o["id"]))
    jobs = PaymentJobs(shop.payments)
    run = await jobs.run_reconcile()
    assert run.ran
    report, repaired = run.result
    assert [m.kind for m in report.mismatches] == ["paid_not_credited"]
    assert [r.repaired for r in repaired] == [True]
    assert await shop.balance(uid) == 11 * USD and await shop.counter(uid) == 11 * USD
    assert (await jobs.run_reconcile()).result is None  # reconciled this period already
    assert (await jobs.run_reconcile(force=True)).result[0].mismatches == []


async def test_refunded_at_stripe_but_not_debited(shop: Shop) -> None:
    """A refund made in Stripe's dashboard: the ledger catches up on repair."""
    uid, me = await buyer(shop)
    o = await shop.topup(me, "20")
    await shop.pay(o["id"])
    pi = (await shop.order_row(o["id"]))["stripe_payment_intent"]
    refund = shop.fake.account.create_refund({"payment_intent": pi, "amount": "1500"})
    (m,) = await mismatches(shop)
    assert (m["kind"], m["amount_nusd"], m["stripe_id"]) == (
        "refunded_not_debited",
        15 * USD,
        refund["id"],
    )
    result = await repair(shop, m["id"])
    assert result["balance_change_nusd"] == -15 * USD
    row = await shop.order_row(o["id"])
    assert (row["status"], row["stripe_refund_id"], row["refund_amount_nusd"]) == (
        "refunded",
        refund["id"],
        15 * USD,
    )
    assert await shop.balance(uid) == 5 * USD and await shop.counter(uid) == 5 * USD
    assert await mismatches(shop) == []


async def test_credited_twice(shop: Shop) -> None:
    uid, me = await buyer(shop)
    o = await shop.topup(me, "20")
    await shop.pay(o["id"])
    async with shop.db.begin() as conn:  # a past bug credited 40 for a 20 payment
        await conn.execute(
            update(ledger)
            .where(ledger.c.reason == "topup", ledger.c.reference == o["id"])
            .values(amount_nusd=40 * USD, balance_after_nusd=40 * USD)
        )
        await conn.execute(update(users).where(users.c.id == uid).values(balance_nusd=40 * USD))
    await shop.ledger.credit(uid, 20 * USD)
    (m,) = await mismatches(shop)
    assert (m["kind"], m["amount_nusd"]) == ("credited_twice", 20 * USD)
    assert (await repair(shop, m["id"]))["balance_change_nusd"] == -20 * USD
    assert (await repair(shop, m["id"]))["repaired"] is False
    assert ("admin_debit", -20 * USD) in [(r, a) for r, a, _ in await shop.entries(uid)]
    assert await shop.balance(uid) == 20 * USD and await shop.counter(uid) == 20 * USD


async def test_credited_but_not_paid(shop: Shop) -> None:
    uid, me = await buyer(shop)
    o = await shop.topup(me, "20")
    async with shop.db.begin() as conn:
        await add_ledger_entry(
            conn, user_id=uid, amount_nusd=20 * USD, reason="topup", reference=o["id"]
        )
    await shop.ledger.credit(uid, 20 * USD)
    (m,) = await mismatches(shop)
    assert (m["kind"], m["amount_nusd"]) == ("credited_not_paid", 20 * USD)
    await repair(shop, m["id"])
    assert await shop.status(o["id"]) == "failed"
    assert await shop.balance(uid) == 0 and await shop.counter(uid) == 0
    assert await mismatches(shop) == []


async def test_debited_but_not_refunded(shop: Shop) -> None:
    uid, me = await buyer(shop)
    o = await shop.topup(me, "20")
    await shop.pay(o["id"])
    async with shop.db.begin() as conn:  # marked refunded, but Stripe never refunded it
        await add_ledger_entry(
            conn, user_id=uid, amount_nusd=-20 * USD, reason="refund", reference=f"{o['id']}:1"
        )
        await conn.execute(update(orders).where(orders.c.id == o["id"]).values(status="refunded"))
    await shop.ledger.credit(uid, -20 * USD)
    (m,) = await mismatches(shop)
    assert (m["kind"], m["amount_nusd"]) == ("debited_not_refunded", 20 * USD)
    assert (await repair(shop, m["id"]))["balance_change_nusd"] == 20 * USD
    row = await shop.order_row(o["id"])
    assert row["status"] == "refund_requested" and "no refund" in row["refund_error"]
    assert await shop.balance(uid) == 20 * USD and await shop.counter(uid) == 20 * USD
    assert await mismatches(shop) == []


async def test_a_paid_session_for_an_unknown_order_is_listed_for_a_person(shop: Shop) -> None:
    session = shop.fake.account.create_session(
        {
            "mode": "payment",
            "client_reference_id": "ord_01GHOST0000000000000000000",
            "line_items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": "500",
                        "product_data": {"name": "x"},
                    },
                    "quantity": "1",
                }
            ],
        }
    )
    shop.fake.webhooks.configure(mode="drop")
    shop.fake.account.pay(session["id"])
    (m,) = await mismatches(shop)
    assert (m["kind"], m["repairable"], m["amount_nusd"]) == ("paid_unknown_order", False, 5 * USD)
    r = await shop.admin.post("/api/admin/payments/reconcile/repair", json={"id": m["id"]})
    assert_error(r, 409, "CONFLICT")


async def test_period_validation(shop: Shop) -> None:
    for query, param in (
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from"),
        ({"from": "2025-01-01", "to": "2026-01-01"}, "from"),
        ({"from": "2026-01-01T00:00:00"}, "from"),
    ):
        r = await shop.admin.get("/api/admin/payments/reconcile", params=query)
        assert_error(r, 400, "INVALID_REQUEST", param)
    r = await shop.admin.post("/api/admin/payments/reconcile/repair", json={"id": "bogus:ord_x"})
    assert_error(r, 400, "INVALID_REQUEST", "id")
    r = await shop.admin.get(
        "/api/admin/payments/reconcile", params={"from": "2026-01-01", "to": "2026-01-02"}
    )
    assert r.status_code == 200 and r.json()["from"].startswith("2026-01-01T00:00:00")
