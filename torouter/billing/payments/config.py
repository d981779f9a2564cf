"""The effective payment settings (R14.8): the config file or environment, else what an admin
saved, else the defaults.

Admin-saved values live in the `settings` table under `payments.<name>`; the two Stripe
secrets are stored encrypted (AES-256-GCM, R18.2) and are never read back out of the API.
A value given in the file or environment wins and is read-only (`from_file`). Values are read
from the database on every use (a payment is rare next to a gateway request), so an edit
applies on every node at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter import crypto
from torouter.config import PaymentsSettings
from torouter.storage.repos._common import sync_row
from torouter.storage.tables import settings_kv

__all__ = [
    "FIELDS",
    "SECRETS",
    "PaymentsConfig",
    "ReadOnlySetting",
    "load_config",
    "save_config",
]

log = logging.getLogger("torouter.payments")

FIELDS = tuple(PaymentsSettings.model_fields)
SECRETS = frozenset({"stripe_secret_key", "stripe_webhook_secret"})
PREFIX = "payments."


class ReadOnlySetting(Exception):
    """The field is set in the config file or environment."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


@dataclass(frozen=True, slots=True)
class PaymentsConfig:
    stripe_secret_key: str | None
    stripe_webhook_secret: str | None
    stripe_api_base: str | None
    topup_presets_usd: tuple[Decimal, ...]
    topup_min_usd: Decimal
    topup_max_usd: Decimal
    order_expiry_min: int
    refund_window_days: int
    max_pending_orders: int
    from_file: frozenset[str] = frozenset()

    def __repr__(self) -> str:  # never the secrets, even in a traceback
        return f"PaymentsConfig(configured={self.configured}, api_base={self.stripe_api_base!r})"

    @property
    def configured(self) -> bool:
        """Payments are on when both Stripe secrets are set (R14.8)."""
        return bool(self.stripe_secret_key and self.stripe_webhook_secret)


def _to_json(field: str, value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list | tuple):
        return [format(v, "f") for v in value]
    return value


async def _stored(conn: AsyncConnection) -> dict[str, Any]:
    rows = await conn.execute(
        select(settings_kv.c.key, settings_kv.c.value).where(
            settings_kv.c.key.in_([PREFIX + f for f in FIELDS])
        )
    )
    return {row.key[len(PREFIX) :]: row.value for row in rows}


async def load_config(
    conn: AsyncConnection, file: PaymentsSettings, keyring: crypto.Keyring
) -> PaymentsConfig:
    stored = await _stored(conn)
    values: dict[str, Any] = {}
    for field in FIELDS:
        if field in file.model_fields_set or field not in stored or stored[field] is None:
            continue
        value = stored[field]
        if field in SECRETS:
            try:
                value = crypto.decrypt(str(value), keyring)
            except crypto.CryptoError as exc:
                log.error("payments.%s cannot be decrypted (%s): treated as unset", field, exc)
                continue
        values[field] = value
    try:
        saved = PaymentsSettings(**values)
    except ValidationError as exc:  # a bad row written by hand: defaults instead, loudly
        log.error("payment settings in the database are invalid, ignored: %s", exc)
        saved = PaymentsSettings()
    merged = {f: getattr(file if f in file.model_fields_set else saved, f) for f in FIELDS}
    merged["topup_presets_usd"] = tuple(merged["topup_presets_usd"])
    return PaymentsConfig(**merged, from_file=frozenset(file.model_fields_set))


async def save_config(
    conn: AsyncConnection,
    changes: dict[str, Any],
    file: PaymentsSettings,
    keyring: crypto.Keyring,
) -> PaymentsConfig:
    """Store the admin's changes (None or "" clears a field back to its default).

    Raises ReadOnlySetting for a field the file sets, pydantic's ValidationError for a value
    the `[payments]` section would refuse (also in combination with the stored ones).
    """
    for field in changes:
        if field in file.model_fields_set:
            raise ReadOnlySetting(field)
    stored = await _stored(conn)
    plain = {f: v for f, v in stored.items() if f not in SECRETS and v is not None}
    for field, value in changes.items():
        if value in (None, ""):
            plain.pop(field, None)
        elif field not in SECRETS:
            plain[field] = value
    checked = PaymentsSettings(**plain)  # validates the whole result, e.g. min ≤ max
    for field, value in changes.items():
        key = PREFIX + field
        if value in (None, ""):
            await conn.execute(delete(settings_kv).where(settings_kv.c.key == key))
            continue
        if field in SECRETS:
            stored_value: Any = crypto.encrypt(str(value).strip(), keyring)
        else:
            stored_value = _to_json(field, getattr(checked, field))
        await sync_row(
            conn,
            settings_kv,
            match={"key": key},
            values={"value": stored_value},
            stamp="updated_at",
        )
    return await load_config(conn, file, keyring)
