"""The fake Stripe (SPEC R14.11; issue 15 item 6) driven by the official SDK: it parses every
answer and error into the SDK's own types; idempotency keys replay and refuse like Stripe;
the hosted page has Pay / Fail / Cancel; webhooks verify with the SDK's signature check; the
controls duplicate, delay, reorder, drop, resend and fail refunds."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest
import stripe
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router

from tests.billing.payments.shop import Served, serve
from tests.e2e.harness import wait_until
from torouter.mock.stripe import FakeStripe
from torouter.mock.stripe.forms import FormError, decode_form

KEY = "sk_test_fake000000000000000"
SECRET = "whsec_fake00000000000000000"


class Receiver:
    """A webhook endpoint that verifies each delivery with the SDK and keeps the events."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.refused = 0
        self.status = 200
        self.arrived = asyncio.Condition()

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        try:
            event = stripe.Webhook.construct_event(
                body, request.headers.get("stripe-signature"), SECRET, tolerance=300
            )
        except stripe.SignatureVerificationError:
            self.refused += 1
            return Response(status_code=400)
        async with self.arrived:
            self.events.append(event.to_dict())
            self.arrived.notify_all()
        return Response(status_code=self.status)

    async def wait(self, n: int) -> list[dict[str, Any]]:
        async with asyncio.timeout(20), self.arrived:
            await self.arrived.wait_for(lambda: len(self.events) >= n)
        return self.events


class Bench:
    def __init__(self, fake: FakeStripe, server: Served, receiver: Receiver) -> None:
        self.fake = fake
        self.server = server
        self.receiver = receiver
        self.http = aiohttp.ClientSession()
        self.client = stripe.StripeClient(
            KEY,
            base_addresses={"api": server.url},
            http_client=stripe.AIOHTTPClient(session=self.http),
            max_network_retries=0,
        )

    @property
    def sessions(self) -> Any:
        return self.client.v1.checkout.sessions

    async def session(self, amount: int = 2000, **extra: Any) -> stripe.checkout.Session:
        params = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": amount,
                        "product_data": {"name": "Top-up"},
                    },
                    "quantity": 1,
                }
            ],
            "client_reference_id": "ord_1",
            "metadata": {"order_id": "ord_1"},
            "success_url": "https://shop.test/ok?s={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://shop.test/back",
            **extra,
        }
        return await self.sessions.create_async(params)


@pytest.fixture
async def bench() -> AsyncIterator[Bench]:
    receiver = Receiver()
    hook = await serve(Router(routes=[Route("/hook", receiver.endpoint, methods=["POST"])]))
    fake = FakeStripe(
        "http://placeholder", api_key=KEY, webhook_secret=SECRET, sweep_interval_s=0.05
    )
    server = await serve(fake)
    fake.account.public_url = server.url
    fake.webhooks.url = f"{hook.url}/hook"
    fake.webhooks.retry_base_s = 0.01
    fake.webhooks.max_retries = 2
    fake.start()
    b = Bench(fake, server, receiver)
    try:
        yield b
    finally:
        await b.http.close()
        await fake.close()
        await server.stop()
        await hook.stop()


async def test_checkout_sessions_through_the_sdk(bench: Bench) -> None:
    s = await bench.session(expires_at=int(time.time()) + 3600, customer_email="a@b.c")
    assert isinstance(s, stripe.checkout.Session)
    assert (s.object, s.status, s.payment_status, s.amount_total, s.currency) == (
        "checkout.session",
        "open",
        "unpaid",
        2000,
        "usd",
    )
    assert s.url == f"{bench.server.url}/c/pay/{s.id}" and s.id.startswith("cs_test_")
    assert s.metadata.to_dict() == {"order_id": "ord_1"} and s.customer_email == "a@b.c"
    got = await bench.sessions.retrieve_async(s.id)
    assert got.id == s.id and got.status == "open"
    bench.fake.account.pay(s.id)
    paid = await bench.sessions.retrieve_async(s.id, {"expand": ["payment_intent.latest_charge"]})
    assert (paid.status, paid.payment_status, paid.url) == ("complete", "paid", None)
    intent = paid.payment_intent
    assert isinstance(intent, stripe.PaymentIntent) and intent.status == "succeeded"
    assert intent.latest_charge.receipt_url.startswith(bench.server.url + "/receipts/")
    other = await bench.session(1000)
    expired = await bench.sessions.expire_async(other.id)
    assert (expired.status, expired.url) == ("expired", None)
    listed = await bench.sessions.list_async({"limit": 1})
    assert [x.id for x in listed.data] == [other.id] and listed.has_more
    assert [x.id async for x in listed.auto_paging_iter()] == [other.id, s.id]
    since = await bench.sessions.list_async({"created": {"gte": int(time.time()) + 60}})
    assert since.data == []


async def test_errors_are_the_sdks_exceptions(bench: Bench) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        await bench.sessions.create_async({"line_items": []})
    assert (err.value.param, err.value.code, err.value.http_status) == (
        "mode",
        "parameter_missing",
        400,
    )
    with pytest.raises(stripe.InvalidRequestError) as err:
        await bench.sessions.retrieve_async("cs_test_nope")
    assert (err.value.code, err.value.http_status) == ("resource_missing", 404)
    assert err.value.json_body["error"]["type"] == "invalid_request_error"
    with pytest.raises(stripe.InvalidRequestError) as err:
        await bench.session(expires_at=int(time.time()) + 60)
    assert err.value.param == "expires_at"
    s = await bench.session()
    bench.fake.account.pay(s.id)
    with pytest.raises(stripe.InvalidRequestError, match='status of "complete"'):
        await bench.sessions.expire_async(s.id)
    wrong = stripe.StripeClient(
        "sk_test_wrong",
        base_addresses={"api": bench.server.url},
        http_client=stripe.AIOHTTPClient(session=bench.http),
    )
    with pytest.raises(stripe.AuthenticationError):
        await wrong.v1.checkout.sessions.retrieve_async(s.id)
    r = await bench.http.get(
        f"{bench.server.url}/v1/customers", headers={"authorization": f"Bearer {KEY}"}
    )
    assert r.status == 404 and "Unrecognized request URL" in (await r.json())["error"]["message"]


async def test_idempotency_keys_replay_and_refuse_like_stripe(bench: Bench) -> None:
    opts = {"idempotency_key": "order-1"}
    params = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 500,
                    "product_data": {"name": "x"},
                },
                "quantity": 1,
            }
        ],
    }
    first = await bench.sessions.create_async(params, opts)
    again = await bench.sessions.create_async(params, opts)
    assert again.id == first.id and len(bench.fake.account.sessions) == 1
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    other = {**params, "client_reference_id": "different"}
    with pytest.raises(stripe.IdempotencyError) as err:
        await bench.sessions.create_async(other, opts)
    assert err.value.http_status == 400 and "same parameters" in str(err.value.user_message)
    # A request refused while validating is not remembered: the corrected retry runs.
    with pytest.raises(stripe.InvalidRequestError):
        await bench.sessions.create_async({"line_items": []}, {"idempotency_key": "k2"})
    assert (await bench.sessions.create_async(params, {"idempotency_key": "k2"})).id != first.id
    bench.fake.account.offset += 24 * 3600 + 1  # keys are kept for 24 hours
    assert (await bench.sessions.create_async(other, opts)).id != first.id


async def test_refunds_through_the_sdk(bench: Bench) -> None:
    s = await bench.session(1000)
    bench.fake.account.pay(s.id)
    pi = bench.fake.account.sessions[s.id]["payment_intent"]
    refunds = bench.client.v1.refunds
    r = await refunds.create_async(
        {"payment_intent": pi, "amount": 400, "metadata": {"order_id": "ord_1"}}
    )
    assert isinstance(r, stripe.Refund) and (r.status, r.amount, r.payment_intent) == (
        "succeeded",
        400,
        pi,
    )
    assert (await refunds.retrieve_async(r.id)).amount == 400
    with pytest.raises(stripe.InvalidRequestError) as err:
        await refunds.create_async({"payment_intent": pi, "amount": 700})
    assert (err.value.code, err.value.param) == ("amount_too_large", "amount")
    await refunds.create_async({"payment_intent": pi})  # the rest
    with pytest.raises(stripe.InvalidRequestError) as err:
        await refunds.create_async({"payment_intent": pi})
    assert err.value.code == "charge_already_refunded"
    listed = await refunds.list_async({"payment_intent": pi})
    assert sorted(x.amount for x in listed.data) == [400, 600]
    # A control makes the next refund fail the way the test asks.
    t = await bench.session(1000)
    bench.fake.account.pay(t.id)
    await bench.fake.control(
        "POST", "/refunds/fail_next", {"status": 500, "type": "api_error", "code": None}
    )
    with pytest.raises(stripe.APIError):
        await refunds.create_async(
            {"payment_intent": bench.fake.account.sessions[t.id]["payment_intent"]}
        )


async def test_webhooks_are_signed_like_stripes(bench: Bench) -> None:
    s = await bench.session()
    bench.fake.account.pay(s.id)
    events = await bench.receiver.wait(3)
    assert [e["type"] for e in events] == [
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]
    completed = events[-1]
    assert completed["data"]["object"]["id"] == s.id and completed["object"] == "event"
    assert bench.receiver.refused == 0
    bench.fake.webhooks.secret = _secret("whsec_other")  # a wrong secret is refused by the SDK
    await bench.fake.control("POST", f"/events/{completed['id']}/resend", {})
    assert bench.receiver.refused >= 1


def _secret(value: str) -> Any:
    async def source() -> str:
        return value

    return source


async def test_duplicate_hold_reorder_drop_and_retry(bench: Bench) -> None:
    fake, rx = bench.fake, bench.receiver
    await fake.control("POST", "/webhooks", {"duplicate": 3})
    s = await bench.session()
    fake.account.expire_session(s.id)
    events = await rx.wait(3)
    assert [e["type"] for e in events] == ["checkout.session.expired"] * 3
    assert len({e["id"] for e in events}) == 1  # the same event three times

    await fake.control("POST", "/webhooks", {"duplicate": 1, "mode": "hold"})
    a, b = await bench.session(), await bench.session()
    fake.account.expire_session(a.id)
    fake.account.expire_session(b.id)
    assert fake.webhooks.held and len(rx.events) == 3
    assert (await fake.control("POST", "/webhooks/release", {"order": "reverse"})) == {
        "released": 2
    }
    events = await rx.wait(5)
    assert [e["data"]["object"]["id"] for e in events[3:]] == [b.id, a.id]  # reordered

    await fake.control("POST", "/webhooks", {"mode": "drop"})
    fake.account.expire_session((await bench.session()).id)
    await fake.webhooks.idle()
    assert len(rx.events) == 5 and fake.webhooks.deliveries[-1].error == "dropped"

    await fake.control("POST", "/webhooks", {"mode": "deliver", "delay_ms": 50})
    rx.status = 500  # a failing endpoint gets the event again
    fake.account.expire_session((await bench.session()).id)
    await fake.webhooks.wait_for(lambda ds: sum(d.status == 500 for d in ds) >= 3)
    assert [d.attempt for d in fake.webhooks.deliveries if d.status == 500] == [1, 2, 3]


async def test_the_hosted_page_pays_fails_and_cancels(bench: Bench) -> None:
    s = await bench.session()
    async with httpx.AsyncClient(base_url=bench.server.url) as web:
        page = await web.get(f"/c/pay/{s.id}")
        assert (
            page.status_code == 200
            and "<main>" in page.text
            and "<h1>Pay 20.00 USD</h1>" in page.text
        )
        for name in ("Pay", "Fail", "Cancel"):
            assert re.search(rf"<button [^>]*>{name}</button>", page.text), name
        back = await web.post(f"/c/pay/{s.id}/cancel")
        assert (back.status_code, back.headers["location"]) == (303, "https://shop.test/back")
        assert bench.fake.account.sessions[s.id]["status"] == "open"
        done = await web.post(f"/c/pay/{s.id}/pay")
        assert (done.status_code, done.headers["location"]) == (
            303,
            f"https://shop.test/ok?s={s.id}",
        )
        assert "This payment is complete." in (await web.get(f"/c/pay/{s.id}")).text
        again = await web.post(f"/c/pay/{s.id}/pay")
        assert again.status_code == 409 and "This payment is complete." in again.text
        f = await bench.session()
        assert (await web.post(f"/c/pay/{f.id}/fail")).status_code == 303
    types = [e["type"] for e in await bench.receiver.wait(6)]
    assert types[-3:] == [
        "checkout.session.completed",
        "payment_intent.payment_failed",
        "checkout.session.async_payment_failed",
    ]
    assert bench.fake.account.sessions[f.id]["payment_status"] == "unpaid"


async def test_sessions_expire_on_their_own(bench: Bench) -> None:
    s = await bench.session(expires_at=int(time.time()) + 1800)
    await bench.fake.control("POST", "/clock", {"advance_s": 1801})
    (event,) = await bench.receiver.wait(1)
    assert event["type"] == "checkout.session.expired" and event["data"]["object"]["id"] == s.id


def test_form_decoding() -> None:
    text = (
        "mode=payment&line_items[0][price_data][currency]=usd&line_items[0][quantity]=1"
        "&line_items[1][quantity]=2&metadata[order_id]=ord_1&expand[]=a&expand[]=b&flag=true"
    )
    assert decode_form(text) == {
        "mode": "payment",
        "line_items": [{"price_data": {"currency": "usd"}, "quantity": "1"}, {"quantity": "2"}],
        "metadata": {"order_id": "ord_1"},
        "expand": ["a", "b"],
        "flag": "true",
    }
    for bad in ("a[b=1", "[x]=1", "a=1&a[b]=2"):
        with pytest.raises(FormError):
            decode_form(bad)


def test_the_cli_prints_where_it_listens() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "torouter.cli", "fake-stripe", "--port", "0", "--api-key", KEY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.fullmatch(r"fake Stripe listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert url, line

        def answer() -> httpx.Response | None:
            try:  # uvicorn binds the printed socket; the app answers once it started
                return httpx.get(
                    f"{url.group(1)}/v1/checkout/sessions",
                    headers={"authorization": f"Bearer {KEY}"},
                )
            except httpx.TransportError:
                return None

        r = wait_until(answer, timeout=20, what="the fake Stripe answering")
        assert r.status_code == 200 and json.loads(r.text)["object"] == "list"
    finally:
        proc.terminate()
        proc.wait(10)
