"""`/admin/orders` and `/admin/payments/reconcile` in-process on both databases (R14.5,
R14.9, R14.10, R15.2), against the fake Stripe over HTTP: filters, an order's Stripe facts
and ledger entries, refund approval (part or all, never above the refundable, Stripe failing
shown on the form), rejection with a required note, every decision audited; reconciliation
lists a payment Stripe has but the ledger does not, one repair credits it exactly once."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from tests.console.conftest import PaySite, csrf_of
from tests.console.test_pages import field_error
from tests.console.test_payment_pages import alert, open_order, session_of
from torouter.storage.tables import audit_log

USD = 10**9


async def paid_topup(ps: PaySite, email: str, amount: str = "20.00") -> tuple[int, str]:
    c = await ps.site.signed_in(email)
    order_id = await open_order(ps, c, amount)
    ps.fake.account.pay(await session_of(ps, order_id))
    await ps.wait_status(order_id, "paid")
    return await ps.user_id(email), order_id


async def refund_requested(ps: PaySite, email: str) -> tuple[int, str]:
    uid, order_id = await paid_topup(ps, email)
    c = ps.site.clients[-1]
    r = await ps.site.form(
        c, f"/orders/{order_id}", f"/orders/{order_id}/refund", {"reason": "Too much"}
    )
    assert r.status_code == 303, r.text
    return uid, order_id


async def audits(ps: PaySite, action: str) -> list[dict[str, Any]]:
    async with ps.site.db.connect() as conn:
        q = select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id)
        return [dict(r) for r in (await conn.execute(q)).mappings()]


async def admin_of(ps: PaySite) -> httpx.AsyncClient:
    return await ps.site.admin("root@example.com")


async def test_orders_list_filters_by_status_kind_user_and_day(pay_site: PaySite) -> None:
    ps = pay_site
    _, paid = await paid_topup(ps, "buyer@example.com")
    c = await ps.site.signed_in("other@example.com")
    pending = await open_order(ps, c, "10.00")
    admin = await admin_of(ps)
    r = await admin.get("/admin/orders")
    assert r.status_code == 200 and paid in r.text and pending in r.text
    assert "2 orders." in r.text
    r = await admin.get("/admin/orders?status=paid")
    assert paid in r.text and pending not in r.text
    r = await admin.get("/admin/orders?user=OTHER@example.com&kind=topup")
    assert pending in r.text and paid not in r.text
    today = ps.site.clock.now().date()
    r = await admin.get(f"/admin/orders?start={today}&end={today}")
    assert paid in r.text and pending in r.text
    r = await admin.get("/admin/orders?start=2001-01-01&end=2001-01-02")
    assert "No order matches." in r.text
    # The API takes the same days (deployment timezone, `end` inclusive).
    r = await admin.get(f"/api/admin/orders?start={today}&end={today}")
    assert r.status_code == 200 and {o["id"] for o in r.json()["data"]} == {paid, pending}
    r = await admin.get("/api/admin/orders?end=2001-01-01")
    assert r.status_code == 200 and r.json()["data"] == []
    r = await admin.get(f"/api/admin/orders?start={today}&end=2001-01-01")
    assert r.status_code == 400 and r.json()["error"]["param"] == "end"
    r = await admin.get("/admin/orders?user=nobody@example.com")
    assert r.status_code == 400
    assert field_error(r.text, "user") == "No account has this email address."
    r = await admin.get("/admin/orders?start=2001-13-01")
    assert r.status_code == 400 and field_error(r.text, "start")
    r = await admin.get(f"/admin/orders?start={today}&end=2001-01-01")
    assert r.status_code == 400 and field_error(r.text, "end")


async def test_order_page_shows_stripe_facts_and_ledger_entries(pay_site: PaySite) -> None:
    ps = pay_site
    _, order_id = await paid_topup(ps, "facts@example.com")
    order = await ps.order(order_id)
    admin = await admin_of(ps)
    r = await admin.get(f"/admin/orders/{order_id}")
    assert r.status_code == 200
    assert order["stripe_session_id"] in r.text and order["stripe_payment_intent"] in r.text
    assert "Top-up" in r.text and "$20.00" in r.text and "facts@example.com" in r.text
    assert f'<code class="wrap">{order_id}</code>' in r.text  # its `topup` ledger entry
    # Sync with Stripe goes through the API (audited) and comes back with a notice.
    r = await admin.post(f"/admin/orders/{order_id}/sync", data={"csrf_token": csrf_of(r.text)})
    assert r.status_code == 303 and r.headers["location"].endswith("notice=order_synced")
    assert [a["target"] for a in await audits(ps, "order.sync")] == [f"order:{order_id}"]
    assert (await admin.get("/admin/orders/ord_nope")).status_code == 404
    assert (await admin.get("/admin/orders/bad%20id")).status_code == 404


async def test_approve_part_of_a_refund_up_to_the_refundable(pay_site: PaySite) -> None:
    ps = pay_site
    uid, order_id = await refund_requested(ps, "approve@example.com")
    await ps.credit(uid, -5)  # $15 of the $20 top-up is left
    admin = await admin_of(ps)
    page = f"/admin/orders/{order_id}"
    r = await admin.get(page)
    assert "$15.00" in r.text and 'value="15.00"' in r.text and "Too much" in r.text
    action = f"/admin/orders/{order_id}/refund/approve"
    r = await ps.site.form(admin, page, action, {"amount_usd": "15.01", "note": ""})
    assert r.status_code == 400
    assert "at most 15.00 USD" in (field_error(r.text, "amount_usd") or "")
    assert (await ps.order(order_id))["status"] == "refund_requested"
    assert await ps.balance(uid) == 15 * USD
    r = await ps.site.form(admin, page, action, {"amount_usd": "12.50", "note": "partial"})
    assert r.status_code == 303 and r.headers["location"] == f"{page}?notice=refund_approved"
    order = await ps.order(order_id)
    assert order["status"] == "refunded" and order["refund_amount_nusd"] == 12_500_000_000
    assert await ps.balance(uid) == 2_500_000_000
    assert [x["amount"] for x in ps.fake.account.refunds.values()] == [1250]
    rows = await audits(ps, "order.refund_approve")
    assert [(a["target"], a["actor"].startswith("user:")) for a in rows] == [
        (f"order:{order_id}", True)
    ]
    r = await admin.get(f"{page}?notice=refund_approved")
    assert "The refund was approved and sent to Stripe." in r.text
    assert "Approve the refund" not in r.text  # decided: no more buttons


async def test_a_stripe_failure_is_shown_on_the_form_and_the_balance_restored(
    pay_site: PaySite,
) -> None:
    ps = pay_site
    uid, order_id = await refund_requested(ps, "fails@example.com")
    await ps.fake.control("POST", "/refunds/fail_next", {})
    admin = await admin_of(ps)
    page = f"/admin/orders/{order_id}"
    r = await ps.site.form(admin, page, f"{page}/refund/approve", {"amount_usd": ""})
    assert r.status_code == 502
    assert "The refund failed at Stripe" in alert(r.text)
    assert await ps.balance(uid) == 20 * USD
    assert (await ps.order(order_id))["status"] == "refund_requested"
    assert "The last attempt failed:" in r.text


async def test_reject_needs_a_note(pay_site: PaySite) -> None:
    ps = pay_site
    uid, order_id = await refund_requested(ps, "reject@example.com")
    admin = await admin_of(ps)
    page = f"/admin/orders/{order_id}"
    r = await ps.site.form(admin, page, f"{page}/refund/reject", {"note": "   "})
    assert r.status_code == 400
    assert 'id="reject-note-error">This field is required.' in r.text
    assert (await ps.order(order_id))["status"] == "refund_requested"
    r = await ps.site.form(admin, page, f"{page}/refund/reject", {"note": "Used already"})
    assert r.status_code == 303 and r.headers["location"].endswith("notice=refund_rejected")
    order = await ps.order(order_id)
    assert (order["status"], order["refund_note"]) == ("refund_rejected", "Used already")
    assert await ps.balance(uid) == 20 * USD
    assert [a["target"] for a in await audits(ps, "order.refund_reject")] == [f"order:{order_id}"]
    # Deciding again is refused in words, at the top of the form.
    r = await ps.site.form(admin, page, f"{page}/refund/reject", {"note": "again"})
    assert r.status_code == 409 and "not awaiting a decision" in alert(r.text)


async def test_reconcile_lists_an_uncredited_payment_and_repairs_it_once(
    pay_site: PaySite,
) -> None:
    ps = pay_site
    c = await ps.site.signed_in("lost@example.com")
    uid = await ps.user_id("lost@example.com")
    await ps.fake.control("POST", "/webhooks", {"mode": "drop"})  # the webhook never comes
    order_id = await open_order(ps, c, "10.00")
    ps.fake.account.pay(await session_of(ps, order_id))
    admin = await admin_of(ps)
    r = await admin.get("/admin/payments/reconcile")
    assert r.status_code == 200 and "Choose the days and press Reconcile" in r.text
    today = ps.site.clock.now().date().isoformat()
    r = await admin.get(f"/admin/payments/reconcile?from={today}&to={today}")
    mismatch = f"paid_not_credited:{order_id}"
    assert r.status_code == 200 and "Paid, not credited" in r.text and mismatch in r.text
    assert "1 mismatches." in r.text
    r = await admin.post(
        "/admin/payments/reconcile/repair",
        data={"csrf_token": csrf_of(r.text), "id": mismatch, "from": today, "to": today},
    )
    assert r.status_code == 200 and "Repaired" in r.text and "balance change $10.00" in r.text
    assert "Orders, the ledger and Stripe agree for these days." in r.text
    assert await ps.balance(uid) == 10 * USD  # credited once
    assert [a["target"] for a in await audits(ps, "payments.repair")] == [mismatch]
    # Again: nothing to do, nothing credited twice.
    r = await admin.post(
        "/admin/payments/reconcile/repair",
        data={"csrf_token": csrf_of(r.text), "id": mismatch, "from": today, "to": today},
    )
    assert "Nothing to do" in r.text and await ps.balance(uid) == 10 * USD
    r = await admin.get("/admin/payments/reconcile?from=2020-01-02&to=2020-01-01")
    assert r.status_code == 400 and field_error(r.text, "to")


async def test_repair_all_repairs_every_repairable_mismatch(pay_site: PaySite) -> None:
    ps = pay_site
    await ps.fake.control("POST", "/webhooks", {"mode": "drop"})
    users = []
    for n in range(2):
        c = await ps.site.signed_in(f"lost{n}@example.com")
        order_id = await open_order(ps, c, "10.00")
        ps.fake.account.pay(await session_of(ps, order_id))
        users.append(await ps.user_id(f"lost{n}@example.com"))
    admin = await admin_of(ps)
    today = ps.site.clock.now().date().isoformat()
    r = await admin.get(f"/admin/payments/reconcile?from={today}&to={today}")
    assert "Repair all (2)" in r.text
    r = await admin.post(
        "/admin/payments/reconcile/repair-all",
        data={"csrf_token": csrf_of(r.text), "from": today, "to": today},
    )
    assert r.status_code == 200 and r.text.count(">Repaired<") == 2
    assert [await ps.balance(u) for u in users] == [10 * USD, 10 * USD]
    (row,) = await audits(ps, "payments.repair_all")
    assert row["detail"] == {"tried": 2, "repaired": 2, "failed": 0}
