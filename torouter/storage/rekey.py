"""Re-encrypting stored secrets under the primary key (R18.2, `torouter rotate-encryption-key`).

Put a new key first in `encryption_key`, keep the old ones after it, run this, then drop the
old ones: every secret the database holds must be readable under the keys that stay. The
secrets are the channels' credentials and egress proxy URLs, the users' TOTP seeds, the
`settings` rows the caller names (the Stripe keys admins saved, R14.8), and every `settings`
row stored as `{"enc": …}` (the secret site settings admins saved, e.g. the SMTP password). A
proxy URL still in clear (migration 0005 ran without the key) is encrypted here as well.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Column, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.crypto import Keyring, decrypt, encrypt, is_encrypted
from torouter.storage import tables as t

__all__ = ["SECRET_COLUMNS", "reencrypt_secrets"]

# (table, column, whether a value in clear may be found there and must be encrypted)
SECRET_COLUMNS: tuple[tuple[Table, str, bool], ...] = (
    (t.channels, "credential_enc", False),
    (t.channels, "proxy_enc", True),  # a key-less 0005 left URLs in clear
    (t.users, "totp_secret_enc", False),
)


def _fresh(token: str, keyring: Keyring, clear_allowed: bool) -> str | None:
    """The value re-encrypted under the primary key; None when it already is.

    Raises `CryptoError` for a value no key decrypts (and for text in clear where ciphertext
    belongs): the rotation stops before the old key is dropped, not after.
    """
    if clear_allowed and not is_encrypted(token):
        return encrypt(token, keyring)
    if keyring.key_id_of(token) == keyring.primary:
        return None
    return encrypt(decrypt(token, keyring), keyring)


async def reencrypt_secrets(
    conn: AsyncConnection, keyring: Keyring, settings_keys: Collection[str] = ()
) -> int:
    """Re-encrypt every secret not under `keyring.primary`; the number rewritten."""
    n = 0
    for table, name, clear_allowed in SECRET_COLUMNS:
        column: Column[str] = table.c[name]
        for row_id, token in (await conn.execute(select(table.c.id, column))).all():
            fresh = _fresh(token, keyring, clear_allowed) if token else None
            if fresh is not None:
                await conn.execute(update(table).where(table.c.id == row_id).values({name: fresh}))
                n += 1
    kv = t.settings_kv
    named = set(settings_keys)
    for key, value in (await conn.execute(select(kv.c.key, kv.c.value))).all():
        new_value: str | dict[str, str] | None = None
        if key in named and value:
            new_value = _fresh(str(value), keyring, False)
        elif isinstance(value, dict) and set(value) == {"enc"} and isinstance(value["enc"], str):
            token = _fresh(value["enc"], keyring, False)
            new_value = None if token is None else {"enc": token}
        if new_value is not None:
            await conn.execute(update(kv).where(kv.c.key == key).values(value=new_value))
            n += 1
    return n
