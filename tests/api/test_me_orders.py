"""`/api/me/orders` (SPEC R14.2, R14.4, R14.9, R16.4): create, validate, list, resume, cancel,
sync; 503 without Stripe settings; 409 beyond `max_pending_orders`."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from sqlalchemy import update

from tests.api.test_me_keys import assert_error
from tests.billing.payments.shop import USD, Shop, shop
from torouter.storage.tables import users

__all__ = ["shop"]


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


async def _me(shop: Shop, email: str = "buyer@example.com") -> tuple[int, httpx.AsyncClient]:
    uid = await shop.user(email)
    return uid, await shop.browser(uid)


async def test_a_top_up_order_and_its_checkout_session(shop: Shop) -> None:
    uid, me = await _me(shop)
    r = await me.post("/api/me/orders", json={"kind": "topup", "amount_usd": "20.00"})
    assert r.status_code == 201, r.text
    o = r.json()
    assert re.fullmatch(r"ord_[0-9A-HJKMNP-TV-Z]{26}", o["id"])
    assert (o["kind"], o["status"], o["method"], o["currency"]) == (
        "topup",
        "pending",
        "stripe",
        "usd",
    )
    assert (o["amount_nusd"], o["amount_usd"]) == (20 * USD, "20.000000000")
    minutes = (ts(o["expires_at"]) - ts(o["created_at"])).total_seconds() / 60
    assert 30 <= minutes <= 32
    # The session at Stripe: mode payment, usd, our order id as reference and metadata.
    session = shop.fake.account.sessions[await shop.session_id(o["id"])]
    assert o["checkout_url"] == session["url"]
    assert (session["mode"], session["currency"], session["amount_total"]) == (
        "payment",
        "usd",
        2000,
    )
    assert session["client_reference_id"] == o["id"]
    assert session["metadata"] == {"order_id": o["id"], "user_id": str(uid), "kind": "topup"}
    assert session["success_url"] == f"http://console.test/payment/result?order={o['id']}"
    assert session["cancel_url"] == "http://console.test/purchase"
    assert session["customer_email"] == "buyer@example.com"
    # A number works as well as a string.
    r = await me.post("/api/me/orders", json={"kind": "topup", "amount_usd": 12.5})
    assert r.status_code == 201 and r.json()["amount_nusd"] == 12_500_000_000


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"kind": "topup", "amount_usd": "0.99"}, "amount_usd"),
        ({"kind": "topup", "amount_usd": "10000.01"}, "amount_usd"),
        ({"kind": "topup", "amount_usd": "10.001"}, "amount_usd"),
        ({"kind": "topup", "amount_usd": "ten"}, "amount_usd"),
        ({"kind": "topup", "amount_usd": True}, "amount_usd"),
        ({"kind": "topup"}, "amount_usd"),
        ({"kind": "topup", "amount_usd": "10", "method": "balance"}, "method"),
        ({"kind": "topup", "amount_usd": "10", "coupon": "x"}, "coupon"),
        ({"kind": "gift", "amount_usd": "10"}, "kind"),
        ({"kind": "subscription"}, "plan_id"),
        ({"kind": "subscription", "plan_id": 999}, "plan_id"),
    ],
)
async def test_bad_orders_are_e16_naming_the_field(
    shop: Shop, body: dict[str, object], param: str
) -> None:
    _, me = await _me(shop)
    r = await me.post("/api/me/orders", json=body)
    assert_error(r, 400, "INVALID_REQUEST")
    assert r.json()["error"]["param"] == param
    assert (await me.get("/api/me/orders")).json()["total"] == 0


async def test_limits_are_the_configured_ones(shop: Shop) -> None:
    await shop.payments.save_config({"topup_min_usd": "5", "topup_max_usd": "50"})
    _, me = await _me(shop)
    for amount, status in (("4.99", 400), ("5", 201), ("50.00", 201), ("50.01", 400)):
        r = await me.post("/api/me/orders", json={"kind": "topup", "amount_usd": amount})
        assert r.status_code == status, (amount, r.text)
    r = await shop.raw.get("/api/payments/options")
    assert r.json()["topup_min_usd"] == "5.00" and r.json()["topup_max_usd"] == "50.00"


async def test_without_stripe_settings_orders_are_503(shop: Shop) -> None:
    shop.payments.file_settings = shop.payments.file_settings.model_copy(
        update={"stripe_secret_key": None}
    )
    _, me = await _me(shop)
    r = await me.post("/api/me/orders", json={"kind": "topup", "amount_usd": "20"})
    assert_error(r, 503, "PAYMENTS_NOT_CONFIGURED")
    assert r.json()["error"]["message"] == "Payments are not configured on this instance"
    assert (await shop.raw.get("/api/payments/options")).json()["configured"] is False
    assert shop.fake.requests == []


async def test_open_orders_are_capped(shop: Shop) -> None:
    _, me = await _me(shop)
    made = [await shop.topup(me, "10") for _ in range(3)]
    r = await me.post("/api/me/orders", json={"kind": "topup", "amount_usd": "10"})
    assert_error(r, 409, "CONFLICT")
    assert (await me.post(f"/api/me/orders/{made[0]['id']}/cancel")).status_code == 200
    await shop.topup(me, "10")
    shop.clock.advance(minutes=40)  # checkouts that can no longer be paid do not count
    for _ in range(3):
        await shop.topup(me, "10")


async def test_listing_pages_and_filters_and_other_users_orders_are_404(shop: Shop) -> None:
    _, me = await _me(shop)
    _, other = await _me(shop, "other@example.com")
    mine = [await shop.topup(me, str(10 + i)) for i in range(3)]
    await me.post(f"/api/me/orders/{mine[0]['id']}/cancel")
    theirs = await shop.topup(other, "10")

    r = await me.get("/api/me/orders?page_size=2")
    page = r.json()
    assert (page["total"], page["page"], page["page_size"], len(page["data"])) == (3, 1, 2, 2)
    assert [o["id"] for o in page["data"]] == [mine[2]["id"], mine[1]["id"]]  # newest first
    r = await me.get("/api/me/orders?status=cancelled")
    assert [o["id"] for o in r.json()["data"]] == [mine[0]["id"]]
    assert_error(await me.get("/api/me/orders?status=lost"), 400, "INVALID_REQUEST")
    for method, path in (
        ("GET", ""),
        ("POST", "/resume"),
        ("POST", "/cancel"),
        ("POST", "/sync"),
    ):
        r = await me.request(method, f"/api/me/orders/{theirs['id']}{path}")
        assert_error(r, 404, "NOT_FOUND")
    r = await me.post(f"/api/me/orders/{theirs['id']}/refund", json={"reason": "x"})
    assert_error(r, 404, "NOT_FOUND")
    assert await shop.status(theirs["id"]) == "pending"


async def test_resume_returns_the_checkout_then_409_once_expired(shop: Shop) -> None:
    _, me = await _me(shop)
    o = await shop.topup(me)
    r = await me.post(f"/api/me/orders/{o['id']}/resume")
    assert r.status_code == 200 and r.json() == {"checkout_url": o["checkout_url"]}
    shop.clock.advance(minutes=31)
    assert_error(await me.post(f"/api/me/orders/{o['id']}/resume"), 409, "CONFLICT")
    assert (await me.get(f"/api/me/orders/{o['id']}")).json()["status"] == "expired"


async def test_resume_of_an_order_paid_meanwhile_credits_it(shop: Shop) -> None:
    uid, me = await _me(shop)
    o = await shop.topup(me, "8")
    shop.fake.webhooks.configure(mode="drop")  # the webhook never arrives
    shop.fake.account.pay(await shop.session_id(o["id"]))
    assert_error(await me.post(f"/api/me/orders/{o['id']}/resume"), 409, "CONFLICT")
    assert await shop.status(o["id"]) == "paid" and await shop.balance(uid) == 8 * USD


async def test_cancel_expires_the_stripe_session_first(shop: Shop) -> None:
    _, me = await _me(shop)
    o = await shop.topup(me)
    r = await me.post(f"/api/me/orders/{o['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["checkout_url"] is None
    session = shop.fake.account.sessions[await shop.session_id(o["id"])]
    assert session["status"] == "expired"  # it can no longer be paid
    assert ("POST", f"/v1/checkout/sessions/{session['id']}/expire") in shop.fake.requests
    await shop.fake.webhooks.idle()  # Stripe's expiry event does not change a cancelled order
    assert await shop.status(o["id"]) == "cancelled"
    assert_error(await me.post(f"/api/me/orders/{o['id']}/cancel"), 409, "CONFLICT")


async def test_cancel_of_an_order_paid_meanwhile_is_409_and_credits_it(shop: Shop) -> None:
    uid, me = await _me(shop)
    o = await shop.topup(me, "6")
    shop.fake.webhooks.configure(mode="drop")
    shop.fake.account.pay(await shop.session_id(o["id"]))
    assert_error(await me.post(f"/api/me/orders/{o['id']}/cancel"), 409, "CONFLICT")
    assert await shop.status(o["id"]) == "paid" and await shop.balance(uid) == 6 * USD


async def test_a_delayed_payment_in_progress_is_neither_resumed_nor_cancelled(shop: Shop) -> None:
    uid, me = await _me(shop)
    o = await shop.topup(me, "10")
    sid = await shop.session_id(o["id"])
    shop.fake.account.pay_async(sid)  # e.g. a bank debit: the session completes unpaid
    for action in ("resume", "cancel"):
        r = await me.post(f"/api/me/orders/{o['id']}/{action}")
        assert_error(r, 409, "CONFLICT")
        assert "being processed" in r.json()["error"]["message"]
    shop.clock.advance(minutes=45)
    from torouter.jobs.payments import PaymentJobs

    await PaymentJobs(shop.payments).run_frequent()  # past expiry, but not expired
    assert await shop.status(o["id"]) == "pending"
    shop.fake.account.settle_async(sid, succeed=True)
    await shop.wait_status(o["id"], "paid")
    assert await shop.balance(uid) == 10 * USD


async def test_sync_fetches_a_paid_session_whose_webhook_was_lost(shop: Shop) -> None:
    """What /payment/result does after 60 s of polling."""
    uid, me = await _me(shop)
    o = await shop.topup(me, "25")
    shop.fake.webhooks.configure(mode="drop")
    shop.fake.account.pay(await shop.session_id(o["id"]))
    assert (await me.get(f"/api/me/orders/{o['id']}")).json()["status"] == "pending"
    r = await me.post(f"/api/me/orders/{o['id']}/sync")
    assert r.status_code == 200 and r.json()["status"] == "paid"
    assert r.json()["receipt_url"].startswith(shop.fake_server.url)
    assert await shop.balance(uid) == 25 * USD and await shop.counter(uid) == 25 * USD
    r = await me.post(f"/api/me/orders/{o['id']}/sync")  # again: nothing more
    assert await shop.entries(uid) == [("topup", 25 * USD, o["id"])]


async def test_stripe_unreachable_is_502_and_the_order_failed(shop: Shop) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    shop.payments.file_settings = shop.payments.file_settings.model_copy(
        update={"stripe_api_base": dead}
    )
    _, me = await _me(shop)
    r = await me.post("/api/me/orders", json={"kind": "topup", "amount_usd": "10"})
    assert_error(r, 502, "upstream_unavailable")
    (o,) = (await me.get("/api/me/orders")).json()["data"]
    assert o["status"] == "failed" and o["note"] == "the checkout could not be created"


async def test_unverified_users_cannot_order(shop: Shop) -> None:
    uid, me = await _me(shop)
    async with shop.db.begin() as conn:
        await conn.execute(update(users).where(users.c.id == uid).values(state="unverified"))
    r = await me.post("/api/me/orders", json={"kind": "topup", "amount_usd": "10"})
    assert_error(r, 403, "EMAIL_NOT_VERIFIED")
