"""Channels (R9.1): one upstream account each; the credential and the egress proxy URL (which
may carry the proxy account's password) are stored encrypted (R18.2)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.crypto import Keyring, decrypt, encrypt, is_encrypted
from torouter.platforms.registry import PLATFORM_NAMES
from torouter.storage.repos._common import insert_row, now, select_one
from torouter.storage.tables import channel_groups, channels

__all__ = [
    "PLATFORMS",
    "channel_credential",
    "channel_group_ids",
    "channel_proxy",
    "create_channel",
    "encrypt_proxy",
    "get_channel",
    "get_channel_by_name",
    "set_channel_groups",
    "set_channel_status",
    "stored_proxy",
]

PLATFORMS = PLATFORM_NAMES  # the registry's platforms, in display order


async def create_channel(
    conn: AsyncConnection,
    *,
    name: str,
    platform: str,
    keyring: Keyring,
    credential: str | None = None,
    base_url: str | None = None,
    models: Sequence[str] = (),
    model_mapping: Mapping[str, str] | None = None,
    group_ids: Sequence[int] = (),
    priority: int = 0,
    weight: int = 1,
    status: str = "enabled",
    options: Mapping[str, Any] | None = None,
    managed: bool = False,
    proxy: str | None = None,
    **fields: Any,
) -> int:
    """`proxy`: the egress proxy URL in clear (stored encrypted); `fields`: the other columns of
    `channels` (timeouts, test_model, endpoints…)."""
    unknown = set(fields) - set(channels.c.keys())
    if unknown:
        raise TypeError(f"unknown channel fields {sorted(unknown)}")
    channel_id: int = await insert_row(
        conn,
        channels,
        {
            **fields,
            "name": name,
            "platform": platform,
            "base_url": base_url,
            "credential_enc": encrypt(credential, keyring) if credential is not None else None,
            "proxy_enc": encrypt_proxy(proxy, keyring),
            "models": list(models),
            "model_mapping": dict(model_mapping or {}),
            "priority": priority,
            "weight": weight,
            "status": status,
            "options": dict(options or {}),
            "managed": managed,
            "created_at": now(),
        },
    )
    await set_channel_groups(conn, channel_id=channel_id, group_ids=group_ids)
    return channel_id


def channel_credential(row: Mapping[str, Any], keyring: Keyring) -> str | None:
    """The plaintext credential of a channel row (for the upstream adapter only)."""
    enc = row["credential_enc"]
    return None if enc is None else decrypt(enc, keyring)


def encrypt_proxy(url: str | None, keyring: Keyring) -> str | None:
    """The `proxy_enc` value of a proxy URL: encrypted, None for no proxy (blank included)."""
    return encrypt(url, keyring) if url else None


def stored_proxy(value: str | None, decrypt: Callable[[str], str]) -> str | None:
    """The clear proxy URL of a `proxy_enc` value, None for none.

    Accepts both stored forms: ciphertext, and a URL a key-less run of migration 0005 left
    unencrypted (a URL's scheme is never the ciphertext's `v1:`); `rotate-encryption-key` and
    the next save encrypt those. An undecryptable value raises `CryptoError`, as a credential
    does: a channel must never silently lose its proxy and call its upstream directly.
    """
    if not value:
        return None
    return decrypt(value) if is_encrypted(value) else value


def channel_proxy(row: Mapping[Any, Any], keyring: Keyring) -> str | None:
    """The clear egress proxy URL of a channel row (for the transports and redacted reads)."""
    return stored_proxy(row["proxy_enc"], lambda token: decrypt(token, keyring))


async def get_channel(conn: AsyncConnection, *, channel_id: int) -> RowMapping | None:
    return await select_one(conn, channels, {"id": channel_id})


async def get_channel_by_name(conn: AsyncConnection, *, name: str) -> RowMapping | None:
    return await select_one(conn, channels, {"name": name})


async def channel_group_ids(conn: AsyncConnection, *, channel_id: int) -> set[int]:
    rows = await conn.execute(
        select(channel_groups.c.group_id).where(channel_groups.c.channel_id == channel_id)
    )
    return set(rows.scalars())


async def set_channel_groups(
    conn: AsyncConnection, *, channel_id: int, group_ids: Sequence[int]
) -> bool:
    """Make the channel serve exactly these groups; False when it already did."""
    current = await channel_group_ids(conn, channel_id=channel_id)
    wanted = set(group_ids)
    if current == wanted:
        return False
    if current - wanted:
        await conn.execute(
            delete(channel_groups).where(
                channel_groups.c.channel_id == channel_id,
                channel_groups.c.group_id.in_(current - wanted),
            )
        )
    if wanted - current:
        await conn.execute(
            insert(channel_groups),
            [{"channel_id": channel_id, "group_id": g} for g in sorted(wanted - current)],
        )
    return True


async def set_channel_status(
    conn: AsyncConnection, *, channel_id: int, status: str, reason: str | None
) -> None:
    """A health decision (auto-disable, probe re-enable); never overrides an admin's disable."""
    await conn.execute(
        update(channels)
        .where(channels.c.id == channel_id, channels.c.status != "disabled")
        .values(status=status, status_reason=reason, status_since=now())
    )
