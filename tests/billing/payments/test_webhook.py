"""The Stripe webhook credits exactly once (SPEC R14.3; issue 15 item 3): duplicate, replayed,
reordered and concurrent deliveries; forgeries refused; mismatched events credit nothing and
are logged; money on expired or cancelled orders still credited."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from tests.billing.payments.shop import USD, WEBHOOK_SECRET, Shop
from torouter.mock.stripe import sign
from torouter.storage.tables import orders, stripe_events


def signed(
    event: dict[str, Any], *, secret: str = WEBHOOK_SECRET, age_s: int = 0
) -> tuple[bytes, str]:
    payload = json.dumps(event, indent=2)
    return payload.encode(), sign(payload, secret, int(time.time()) - age_s)


async def post_event(shop: Shop, event: dict[str, Any], **kw: Any) -> httpx.Response:
    body, header = signed(event, **kw)
    return await shop.raw.post(
        "/api/payments/stripe/webhook",
        content=body,
        headers={"stripe-signature": header, "content-type": "application/json"},
    )


def event_of(shop: Shop, type_: str, session_id: str) -> dict[str, Any]:
    found = [
        e
        for e in shop.fake.account.events.values()
        if e["type"] == type_ and e["data"]["object"]["id"] == session_id
    ]
    assert found, f"no {type_} for {session_id}"
    return copy.deepcopy(found[-1])


async def stored_events(shop: Shop) -> list[tuple[str, str | None]]:
    async with shop.db.connect() as conn:
        rows = await conn.execute(select(stripe_events.c.type, stripe_events.c.outcome))
        return sorted((r.type, r.outcome) for r in rows)


async def _buyer(shop: Shop, email: str = "buyer@example.com") -> tuple[int, httpx.AsyncClient]:
    uid = await shop.user(email)
    return uid, await shop.browser(uid)


async def test_a_paid_checkout_credits_once_and_the_gateway_sees_it(shop: Shop) -> None:
    uid, me = await _buyer(shop)
    order = await shop.topup(me, "20.00")
    assert order["status"] == "pending" and order["checkout_url"].startswith(shop.fake_server.url)

    await shop.pay(order["id"])

    assert await shop.balance(uid) == 20 * USD
    assert await shop.entries(uid) == [("topup", 20 * USD, order["id"])]
    assert await shop.counter(uid) == 20 * USD  # admission sees the new balance at once
    r = await me.get(f"/api/me/orders/{order['id']}")
    got = r.json()
    assert (got["status"], got["checkout_url"], got["refundable_nusd"]) == ("paid", None, 20 * USD)
    assert got["paid_at"] and got["receipt_url"].startswith(shop.fake_server.url + "/receipts/")
    # Stripe's other events of a payment (charge, payment intent) are answered 200 too.
    await shop.fake.webhooks.idle()
    assert {d.status for d in shop.fake.webhooks.deliveries} == {200}
    assert ("checkout.session.completed", "credited") in await stored_events(shop)
    assert ("payment_intent.succeeded", "ignored") in await stored_events(shop)


async def test_duplicate_and_replayed_deliveries_credit_once(shop: Shop) -> None:
    uid, me = await _buyer(shop)
    order = await shop.topup(me, "15.00")
    shop.fake.webhooks.configure(duplicate=5)  # every event arrives 5 times at once
    await shop.pay(order["id"])
    await shop.fake.webhooks.idle()
    completed = event_of(shop, "checkout.session.completed", await shop.session_id(order["id"]))
    for _ in range(3):  # Stripe's "resend", and an attacker replaying the captured delivery
        await shop.fake.control("POST", f"/events/{completed['id']}/resend", {})
    for _ in range(3):
        r = await post_event(shop, completed)
        assert (r.status_code, r.json()["outcome"]) == (200, "duplicate")
    assert await shop.entries(uid) == [("topup", 15 * USD, order["id"])]
    assert (await stored_events(shop)).count(("checkout.session.completed", "credited")) == 1
    assert await shop.counter(uid) == 15 * USD


async def test_the_same_event_50_times_at_once_credits_once(shop: Shop) -> None:
    uid, me = await _buyer(shop)
    order = await shop.topup(me, "7.25")
    shop.fake.webhooks.configure(mode="drop")  # only our 50 copies arrive
    shop.fake.account.pay(await shop.session_id(order["id"]))
    completed = event_of(shop, "checkout.session.completed", await shop.session_id(order["id"]))

    answers = await asyncio.gather(*(post_event(shop, completed) for _ in range(50)))

    assert {r.status_code for r in answers} == {200}
    outcomes = sorted(r.json()["outcome"] for r in answers)
    assert outcomes.count("credited") == 1 and set(outcomes) <= {"credited", "duplicate"}
    assert await shop.entries(uid) == [("topup", 7_250_000_000, order["id"])]
    assert await shop.counter(uid) == 7_250_000_000


async def test_distinct_events_for_one_payment_credit_once(shop: Shop) -> None:
    """Two different events saying the same session is paid (e.g. completed, then a later
    async_payment_succeeded): the second finds the order paid."""
    uid, me = await _buyer(shop)
    order = await shop.topup(me, "10.00")
    await shop.pay(order["id"])
    again = event_of(shop, "checkout.session.completed", await shop.session_id(order["id"]))
    again["id"] = "evt_another0000000000000000"
    again["type"] = "checkout.session.async_payment_succeeded"
    r = await post_event(shop, again)
    assert r.json()["outcome"] == "already"
    assert await shop.entries(uid) == [("topup", 10 * USD, order["id"])]


async def test_reordered_async_payment_events(shop: Shop) -> None:
    """A delayed payment method: `completed` (unpaid) and `async_payment_succeeded` arrive
    newest first; the order is credited once and stays paid."""
    uid, me = await _buyer(shop)
    order = await shop.topup(me, "30.00")
    sid = await shop.session_id(order["id"])
    shop.fake.webhooks.configure(mode="hold")
    shop.fake.account.pay_async(sid)
    shop.fake.account.settle_async(sid, succeed=True)
    await shop.fake.webhooks.release("reverse")
    await shop.wait_status(order["id"], "paid")
    events = await stored_events(shop)
    assert ("checkout.session.async_payment_succeeded", "credited") in events
    assert ("checkout.session.completed", "pending") in events  # unpaid: nothing to do
    assert await shop.entries(uid) == [("topup", 30 * USD, order["id"])]


async def test_a_late_expiry_event_does_not_undo_a_payment(shop: Shop) -> None:
    uid, me = await _buyer(shop)
    order = await shop.topup(me, "10.00")
    await shop.pay(order["id"])
    stale = event_of(shop, "checkout.session.completed", await shop.session_id(order["id"]))
    stale.update(id="evt_staleexpiry000000000000", type="checkout.session.expired")
    stale["data"]["object"].update(status="expired", payment_status="unpaid")
    r = await post_event(shop, stale)
    assert r.json()["outcome"] == "already"
    assert await shop.status(order["id"]) == "paid" and await shop.balance(uid) == 10 * USD


async def test_money_on_an_expired_order_is_still_credited(shop: Shop) -> None:
    uid, me = await _buyer(shop)
    order = await shop.topup(me, "12.00")
    shop.clock.advance(minutes=45)  # past the checkout's expiry for us, not yet at Stripe
    r = await me.post(f"/api/me/orders/{order['id']}/resume")
    assert r.status_code == 409 and await shop.status(order["id"]) == "expired"

    shop.fake.account.pay(await shop.session_id(order["id"]))  # the customer paid anyway
    await shop.wait_status(order["id"], "paid")
    assert await shop.balance(uid) == 12 * USD
    assert (await shop.order_row(order["id"]))["note"] == "paid after the order was expired"


async def test_money_on_a_cancelled_order_is_still_credited(shop: Shop) -> None:
    """The user cancelled in one tab while paying in another and the payment won at Stripe."""
    uid, me = await _buyer(shop)
    order = await shop.topup(me, "9.00")
    async with shop.db.begin() as conn:
        await conn.execute(
            update(orders).where(orders.c.id == order["id"]).values(status="cancelled")
        )
    await shop.pay(order["id"])
    assert await shop.entries(uid) == [("topup", 9 * USD, order["id"])]


async def test_async_payment_failure_fails_the_order(shop: Shop) -> None:
    uid, me = await _buyer(shop)
    order = await shop.topup(me, "10.00")
    shop.fake.account.fail(await shop.session_id(order["id"]))
    await shop.wait_status(order["id"], "failed")
    assert await shop.entries(uid) == []


@pytest.mark.parametrize(
    "problem",
    ["bad_signature", "wrong_secret", "stale", "no_header", "not_json", "tampered_body"],
)
async def test_forged_webhooks_are_400_and_change_nothing(shop: Shop, problem: str) -> None:
    uid, me = await _buyer(shop)
    order = await shop.topup(me, "10.00")
    shop.fake.webhooks.configure(mode="drop")
    shop.fake.account.pay(await shop.session_id(order["id"]))
    event = event_of(shop, "checkout.session.completed", await shop.session_id(order["id"]))
    body, header = signed(event, age_s=301 if problem == "stale" else 0)
    headers = {"stripe-signature": header, "content-type": "application/json"}
    if problem == "bad_signature":
        headers["stripe-signature"] = header[:-4] + "0000"
    elif problem == "wrong_secret":
        headers["stripe-signature"] = signed(event, secret="whsec_guessed")[1]
    elif problem == "no_header":
        del headers["stripe-signature"]
    elif problem == "not_json":
        body = b"not json"
        headers["stripe-signature"] = sign("not json", WEBHOOK_SECRET, int(time.time()))
    elif problem == "tampered_body":
        body = body.replace(b'"amount_total": 1000', b'"amount_total": 100000')
    r = await shop.raw.post("/api/payments/stripe/webhook", content=body, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "INVALID_REQUEST"
    assert await stored_events(shop) == []
    assert await shop.status(order["id"]) == "pending" and await shop.balance(uid) == 0


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("order", {"client_reference_id": "OTHER", "metadata.order_id": "OTHER"}),
        ("amount", {"amount_total": 100000}),
        ("currency", {"currency": "eur"}),
        ("user", {"metadata.user_id": "OTHER_USER"}),
        ("session", {"id": "cs_test_someoneelse"}),
    ],
)
async def test_a_signed_event_that_does_not_match_its_order_credits_nothing(
    shop: Shop, field: str, change: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A validly signed event naming another order, amount, currency, user or session (e.g.
    a cheap payment relabelled for an expensive order) credits nothing and is logged."""
    uid, me = await _buyer(shop)
    victim_uid, victim = await _buyer(shop, "victim@example.com")
    cheap = await shop.topup(me, "1.00")
    dear = await shop.topup(victim, "1000.00")
    shop.fake.webhooks.configure(mode="drop")
    shop.fake.account.pay(await shop.session_id(cheap["id"]))
    event = event_of(shop, "checkout.session.completed", await shop.session_id(cheap["id"]))
    event["id"] = "evt_forged000000000000000000"
    obj = event["data"]["object"]
    for key, value in change.items():
        value = {"OTHER": dear["id"], "OTHER_USER": str(victim_uid)}.get(value, value)
        if key.startswith("metadata."):
            obj["metadata"][key.split(".", 1)[1]] = value
        else:
            obj[key] = value
    with caplog.at_level(logging.WARNING, logger="torouter.payments"):
        r = await post_event(shop, event)
    assert (r.status_code, r.json()["outcome"]) == (200, "mismatch")
    assert await shop.balance(uid) == 0 and await shop.balance(victim_uid) == 0
    assert (
        await shop.status(cheap["id"]) == "pending" and await shop.status(dear["id"]) == "pending"
    )
    line = next(rec for rec in caplog.records if "does not match" in rec.getMessage())
    assert line.fields  # type: ignore[attr-defined]
    assert ("checkout.session.completed", "mismatch") in await stored_events(shop)

    genuine = event_of(shop, "checkout.session.completed", await shop.session_id(cheap["id"]))
    assert (await post_event(shop, genuine)).json()["outcome"] == "credited"
    assert await shop.balance(uid) == USD and await shop.balance(victim_uid) == 0


async def test_without_stripe_settings_the_webhook_is_503(shop: Shop) -> None:
    shop.payments.file_settings = shop.payments.file_settings.model_copy(
        update={"stripe_webhook_secret": None}
    )
    r = await post_event(shop, {"id": "evt_x", "type": "ping"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "PAYMENTS_NOT_CONFIGURED"


async def test_an_event_for_an_order_we_do_not_have_is_ignored(shop: Shop) -> None:
    uid, me = await _buyer(shop)
    order = await shop.topup(me, "5.00")
    shop.fake.webhooks.configure(mode="drop")
    shop.fake.account.pay(await shop.session_id(order["id"]))
    event = event_of(shop, "checkout.session.completed", await shop.session_id(order["id"]))
    event["id"] = "evt_unknownorder00000000000"
    event["data"]["object"]["client_reference_id"] = "ord_doesnotexist"
    event["data"]["object"]["metadata"]["order_id"] = "ord_doesnotexist"
    assert (await post_event(shop, event)).json()["outcome"] == "unknown_order"
    assert await shop.balance(uid) == 0
