"""`/api/admin/settings/payments` (SPEC R14.8, R17.5, R18.2): admins edit the `[payments]`
settings; the Stripe secrets are stored encrypted and never shown; file values win and are
read-only."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.api.test_me_keys import assert_error
from tests.billing.payments.shop import SECRET_KEY, WEBHOOK_SECRET, Shop, shop
from torouter.config import PaymentsSettings
from torouter.storage.tables import audit_log, settings_kv

__all__ = ["shop"]
PATH = "/api/admin/settings/payments"


async def test_file_values_win_and_are_read_only(shop: Shop) -> None:
    r = await shop.admin.get(PATH)
    got = r.json()
    assert got["configured"] is True
    assert (got["stripe_secret_key_set"], got["stripe_webhook_secret_set"]) == (True, True)
    assert SECRET_KEY not in r.text and WEBHOOK_SECRET not in r.text
    assert got["read_only"] == ["stripe_api_base", "stripe_secret_key", "stripe_webhook_secret"]
    assert got["webhook_url"] == "http://console.test/api/payments/stripe/webhook"
    assert got["topup_presets_usd"][:3] == ["10.00", "20.00", "50.00"]
    assert (got["topup_min_usd"], got["topup_max_usd"], got["max_pending_orders"]) == (
        "1.00",
        "10000.00",
        3,
    )
    r = await shop.admin.patch(PATH, json={"stripe_secret_key": "sk_test_other"})
    assert_error(r, 409, "CONFLICT")
    r = await shop.admin.patch(
        PATH, json={"topup_presets_usd": ["5", "7.50"], "refund_window_days": 14}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["topup_presets_usd"], r.json()["refund_window_days"]) == (["5.00", "7.50"], 14)
    options = (await shop.raw.get("/api/payments/options")).json()
    assert options["topup_presets_usd"] == ["5.00", "7.50"]


async def test_secrets_saved_by_an_admin_are_encrypted_and_write_only(shop: Shop) -> None:
    shop.payments.file_settings = PaymentsSettings()  # nothing in the file
    r = await shop.admin.get(PATH)
    assert r.json()["configured"] is False and r.json()["read_only"] == []
    uid = await shop.user()
    me = await shop.browser(uid)
    r = await me.post("/api/me/orders", json={"kind": "topup", "amount_usd": "10"})
    assert_error(r, 503, "PAYMENTS_NOT_CONFIGURED")

    body = {
        "stripe_secret_key": SECRET_KEY,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_api_base": shop.fake_server.url,
    }
    r = await shop.admin.patch(PATH, json=body)
    assert r.status_code == 200 and r.json()["configured"] is True
    assert SECRET_KEY not in r.text and WEBHOOK_SECRET not in r.text
    async with shop.db.connect() as conn:
        stored = dict((await conn.execute(select(settings_kv.c.key, settings_kv.c.value))).all())
        audit = (await conn.execute(select(audit_log.c.detail))).scalars().all()
    for key, secret in (
        ("stripe_secret_key", SECRET_KEY),
        ("stripe_webhook_secret", WEBHOOK_SECRET),
    ):
        value = stored[f"payments.{key}"]
        assert value.startswith("v1:") and secret not in value  # AES-GCM with the key id
    assert SECRET_KEY not in str(audit)
    # The saved settings are the ones in use: a top-up goes through to the (fake) Stripe.
    order = await shop.topup(me, "10")
    await shop.pay(order["id"])

    r = await shop.admin.patch(PATH, json={"stripe_webhook_secret": None})
    assert r.json()["configured"] is False
    assert_error(
        await me.post("/api/me/orders", json={"kind": "topup", "amount_usd": "10"}),
        503,
        "PAYMENTS_NOT_CONFIGURED",
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"order_expiry_min": 10}, "order_expiry_min"),
        ({"max_pending_orders": 0}, "max_pending_orders"),
        ({"topup_min_usd": "20000"}, "topup_min_usd"),
        ({"topup_max_usd": "10.005"}, "topup_max_usd"),
        ({"topup_presets_usd": ["10", "0"]}, "topup_presets_usd"),
        ({"stripe_api_base": "ftp://example.com"}, "stripe_api_base"),
        ({"refund_window_days": "soon"}, "refund_window_days"),
        ({"webhook": "x"}, "webhook"),
    ],
)
async def test_bad_values_are_e16_naming_the_field(
    shop: Shop, body: dict[str, object], param: str
) -> None:
    shop.payments.file_settings = PaymentsSettings()
    r = await shop.admin.patch(PATH, json=body)
    assert_error(r, 400, "INVALID_REQUEST")
    assert str(r.json()["error"]["param"]).startswith(param)


async def test_a_publishable_key_is_refused(shop: Shop) -> None:
    shop.payments.file_settings = PaymentsSettings()
    r = await shop.admin.patch(PATH, json={"stripe_secret_key": "pk_live_123"})
    assert_error(r, 400, "INVALID_REQUEST", "stripe_secret_key")


async def test_only_admins(shop: Shop) -> None:
    uid = await shop.user()
    me = await shop.browser(uid)
    assert_error(await me.get(PATH), 403, "FORBIDDEN")
    assert_error(await shop.raw.get(PATH), 401, "AUTH_REQUIRED")
