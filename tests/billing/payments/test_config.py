"""The effective payment settings (SPEC R14.8, R18.2): file or environment over what admins
saved over the defaults; secrets encrypted at rest and re-encrypted by
`rotate-encryption-key`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from torouter import crypto
from torouter.billing.payments.config import ReadOnlySetting, load_config, save_config
from torouter.config import PaymentsSettings, load_settings
from torouter.storage.db import Database
from torouter.storage.migrate import upgrade
from torouter.storage.tables import settings_kv


async def test_defaults_saved_values_and_file_values(db: Database) -> None:
    keyring = crypto.Keyring.generate()
    file = PaymentsSettings(stripe_api_base="https://stripe.example")
    async with db.begin() as conn:
        cfg = await load_config(conn, file, keyring)
        assert (cfg.configured, cfg.topup_min_usd, cfg.order_expiry_min) == (False, Decimal(1), 30)
        assert cfg.topup_presets_usd[-1] == Decimal(5000) and cfg.max_pending_orders == 3
        cfg = await save_config(
            conn,
            {
                "stripe_secret_key": "sk_live_x",
                "stripe_webhook_secret": "whsec_y",
                "max_pending_orders": 5,
            },
            file,
            keyring,
        )
        assert cfg.configured and cfg.max_pending_orders == 5
        assert cfg.stripe_api_base == "https://stripe.example" and cfg.from_file == {
            "stripe_api_base"
        }
        assert "sk_live_x" not in repr(cfg)
        with pytest.raises(ReadOnlySetting):
            await save_config(conn, {"stripe_api_base": "https://other"}, file, keyring)
        with pytest.raises(ValidationError):
            await save_config(conn, {"topup_min_usd": "20000"}, file, keyring)
        stored = dict((await conn.execute(select(settings_kv.c.key, settings_kv.c.value))).all())
        assert crypto.decrypt(stored["payments.stripe_secret_key"], keyring) == "sk_live_x"
        cfg = await save_config(conn, {"max_pending_orders": None}, file, keyring)
        assert cfg.max_pending_orders == 3  # back to the default
        # A value that no longer decrypts (a lost key) counts as unset, loudly.
        cfg = await load_config(conn, file, crypto.Keyring.generate())
        assert not cfg.configured


def test_the_environment_sets_payment_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "c.toml").write_text(
        "[payments]\ntopup_presets_usd = [5, 7.5]\nrefund_window_days = 14\n"
    )
    monkeypatch.setenv("TOROUTER_PAYMENTS__STRIPE_SECRET_KEY", "sk_test_env")
    s = load_settings(tmp_path / "c.toml")
    assert s.payments.stripe_secret_key == "sk_test_env"
    assert s.payments.topup_presets_usd == [Decimal(5), Decimal("7.5")]
    assert s.payments.model_fields_set == {
        "stripe_secret_key",
        "topup_presets_usd",
        "refund_window_days",
    }
    with pytest.raises(ValidationError):
        PaymentsSettings(order_expiry_min=29)  # Stripe's checkout lives 30 min to 24 h
    with pytest.raises(ValidationError):
        PaymentsSettings(topup_min_usd=Decimal("0.001"))


async def test_rotate_encryption_key_re_encrypts_saved_stripe_secrets(tmp_path: Path) -> None:
    old, new = crypto.generate_key(), crypto.generate_key()
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/data/torouter.db")
    await upgrade(db)
    async with db.begin() as conn:
        await save_config(
            conn,
            {"stripe_secret_key": "sk_live_secret", "stripe_webhook_secret": "whsec_s"},
            PaymentsSettings(),
            crypto.Keyring.from_setting(old),
        )
    await db.dispose()
    (tmp_path / "c.toml").write_text(
        f'data_dir = "{tmp_path}/data"\nencryption_key = "{new},{old}"\n'
    )
    out = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "torouter.cli",
            "rotate-encryption-key",
            "--config",
            str(tmp_path / "c.toml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0 and "re-encrypted 2" in out.stdout, out.stderr
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/data/torouter.db")
    try:
        async with db.connect() as conn:
            cfg = await load_config(conn, PaymentsSettings(), crypto.Keyring.from_setting(new))
    finally:
        await db.dispose()
    assert cfg.stripe_secret_key == "sk_live_secret" and cfg.stripe_webhook_secret == "whsec_s"
