"""The payments section of `/admin/settings` (R14.8, R17.5): the Stripe secrets are
write-only (saved, never shown, cleared only on purpose), a publishable key and values out of
bounds are refused next to their field, values the configuration file sets are read-only,
and every save is audited with the field names, never the values."""

from __future__ import annotations

from tests.console.admin.conftest import World
from tests.console.test_pages import field_error
from torouter.app_payments import subscribe_paid_plan
from torouter.billing.payments.service import Payments
from torouter.config import PaymentsSettings
from torouter.crypto import keyring_for


async def config(world: World):  # type: ignore[no-untyped-def]
    assert world.site.deps.payments is not None
    return await world.site.deps.payments.config()


async def test_secrets_are_write_only_and_limits_checked(world: World) -> None:
    page = (await world.admin.get("/admin/settings")).text
    assert 'id="payments"' in page and "Payments are off" in page
    assert "/api/payments/stripe/webhook" in page  # the address to give Stripe
    r = await world.post(
        "/admin/settings",
        "/admin/settings/payments",
        {
            "stripe_secret_key": "sk_test_secret123",
            "stripe_webhook_secret": "whsec_abc",
            "topup_presets_usd": "10, 25, 100",
            "topup_min_usd": "5",
            "topup_max_usd": "300",
            "order_expiry_min": "60",
            "refund_window_days": "14",
            "max_pending_orders": "3",
            "stripe_api_base": "",
        },
    )
    assert r.status_code == 303 and r.headers["location"].endswith("#payments")
    cfg = await config(world)
    assert cfg.configured and cfg.stripe_secret_key == "sk_test_secret123"
    assert [str(x) for x in cfg.topup_presets_usd] == ["10", "25", "100"]
    assert (cfg.order_expiry_min, cfg.refund_window_days, cfg.max_pending_orders) == (60, 14, 3)
    page = (await world.admin.get("/admin/settings")).text
    assert "sk_test_secret123" not in page and "whsec_abc" not in page
    assert "Payments are on" in page and page.count("Set (write-only). Blank keeps it.") == 2
    # Blank secrets keep what is stored; a box clears one.
    r = await world.post("/admin/settings", "/admin/settings/payments", {"refund_window_days": "7"})
    assert r.status_code == 303 and (await config(world)).stripe_secret_key == "sk_test_secret123"
    r = await world.post(
        "/admin/settings", "/admin/settings/payments", {"clear_stripe_webhook_secret": "on"}
    )
    assert r.status_code == 303 and not (await config(world)).configured
    # Refusals, next to their field; nothing stored.
    for form, name in (
        ({"stripe_secret_key": "pk_test_public"}, "stripe_secret_key"),
        ({"order_expiry_min": "5"}, "order_expiry_min"),
        ({"max_pending_orders": "many"}, "max_pending_orders"),
        ({"topup_presets_usd": "10, ten"}, "topup_presets_usd"),
    ):
        r = await world.post("/admin/settings", "/admin/settings/payments", form)
        assert r.status_code == 400, form
        assert field_error(r.text, name), form
        assert "pk_test_public" not in r.text
    assert (await config(world)).stripe_secret_key == "sk_test_secret123"
    rows = [a for a in await world.audit() if a["target"] == "payments"]
    assert len(rows) == 3 and all(a["action"] == "settings.update" for a in rows)
    assert "sk_test" not in str(rows) and "whsec" not in str(rows)


async def test_file_values_are_read_only(world: World) -> None:
    world.site.deps.payments = Payments(
        db=world.site.db,
        ledger=world.site.deps.ledger,
        snapshot=world.site.deps.snapshot,
        file_settings=PaymentsSettings(stripe_secret_key="sk_test_file", refund_window_days=3),
        keyring=keyring_for(world.site.deps.settings),
        base_url="http://console.test",
        subscribe=subscribe_paid_plan,
        clock=world.site.clock.now,
    )
    page = (await world.admin.get("/admin/settings")).text
    assert 'name="stripe_secret_key"' not in page and 'name="refund_window_days"' not in page
    assert 'name="stripe_webhook_secret"' in page and "sk_test_file" not in page
    r = await world.post(
        "/admin/settings",
        "/admin/settings/payments",
        {"refund_window_days": "30", "stripe_secret_key": "sk_test_other", "topup_min_usd": "2"},
    )
    assert r.status_code == 303  # read-only fields are not taken from the form
    cfg = await config(world)
    assert (cfg.stripe_secret_key, cfg.refund_window_days) == ("sk_test_file", 3)
    assert str(cfg.topup_min_usd) == "2"


async def test_both_languages(world: World) -> None:
    r = await world.admin.get("/admin/settings", headers={"accept-language": "zh-CN"})
    assert "支付（Stripe）" in r.text and "Webhook 签名密钥" in r.text
