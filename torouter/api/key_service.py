"""What the user's and the admin's key routes share: group access, the per-user key limit,
create/edit/delete, and reading keys with their group name and spend (§13).

Everything here runs inside the caller's transaction; the caller publishes the change to the
gateway after the commit (`changes.publish`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.access.keys import new_key
from torouter.access.status import key_status
from torouter.api.changes import deployment_zone, now
from torouter.api.deps import ApiDeps
from torouter.api.key_schemas import (
    KeyCreate,
    KeyDetail,
    KeyRead,
    KeyUpdate,
    WindowUse,
    key_columns,
)
from torouter.api.pagination import Page
from torouter.api.principal import Principal
from torouter.api.windows import calendar_windows, key_stats, key_window_requests
from torouter.config import Settings
from torouter.errors import error
from torouter.storage.repos import apikeys
from torouter.storage.repos.groups import get_group, get_group_by_name, has_grant
from torouter.storage.repos.users import lock_user
from torouter.storage.tables import api_keys, groups

__all__ = [
    "DEFAULT_MAX_KEYS_PER_USER",
    "create_key",
    "delete_key",
    "key_detail",
    "key_page",
    "key_reads",
    "key_select",
    "load_key",
    "max_keys_per_user",
    "owned_key",
    "update_key",
    "written_key",
]

DEFAULT_MAX_KEYS_PER_USER = 100


def max_keys_per_user(settings: Settings) -> int:
    """`keys.max_per_user` (R13.1), read as `settings.keys_max_per_user` when the settings
    carry it (the `keys` name itself holds the provisioning list), else 100."""
    value = getattr(settings, "keys_max_per_user", None)
    return value if isinstance(value, int) and value > 0 else DEFAULT_MAX_KEYS_PER_USER


def key_select() -> Select[Any]:
    """Keys with their group's name as `group`."""
    return select(api_keys, groups.c.name.label("group")).join(
        groups, groups.c.id == api_keys.c.group_id
    )


async def load_key(
    conn: AsyncConnection, key_id: int, *, include_deleted: bool = False
) -> RowMapping | None:
    stmt = key_select().where(api_keys.c.id == key_id)
    if not include_deleted:
        stmt = stmt.where(api_keys.c.deleted_at.is_(None))
    row: RowMapping | None = (await conn.execute(stmt)).mappings().first()
    return row


async def written_key(conn: AsyncConnection, key_id: int) -> RowMapping:
    """A live key this transaction has just created or updated (to answer with)."""
    row = await load_key(conn, key_id)
    assert row is not None  # written in this transaction, and a deleted key is not editable
    return row


async def owned_key(conn: AsyncConnection, key_id: int, principal: Principal) -> RowMapping:
    """A live key of the caller, else 404.

    Someone else's key id gets the very answer of a missing one, from the same single query
    (the owner is part of its WHERE clause), so neither the body nor the time taken tells
    whether the id exists: key ids cannot be probed across accounts.
    """
    stmt = key_select().where(
        api_keys.c.id == key_id,
        api_keys.c.user_id == principal.user_id,
        api_keys.c.deleted_at.is_(None),
    )
    row: RowMapping | None = (await conn.execute(stmt)).mappings().first()
    if row is None:
        raise error("E19", "API key not found")
    return row


async def _group_for(
    conn: AsyncConnection, body: KeyCreate | KeyUpdate, fields: set[str], *, user_id: int
) -> RowMapping | None:
    """The group named by `group_id` or `group`, if sent: it must exist, be enabled, and be
    public or granted to the key's owner."""
    if "group_id" in fields and body.group_id is not None:
        param, row = "group_id", await get_group(conn, group_id=body.group_id)
    elif "group" in fields and body.group is not None:
        param, row = "group", await get_group_by_name(conn, name=body.group)
    else:
        return None
    if row is None:
        raise error("E16", f"{param}: no such group", param=param)
    if row["status"] != "enabled":
        raise error("E16", f"{param}: the group is disabled", param=param)
    if row["visibility"] == "private" and not await has_grant(
        conn, group_id=row["id"], user_id=user_id
    ):
        raise error("FORBIDDEN", "This group is not available to the account")
    return row


async def create_key(
    deps: ApiDeps, conn: AsyncConnection, *, user_id: int, body: KeyCreate
) -> tuple[int, str]:
    """A new key for `user_id`; returns (id, the key), the one time the key is known."""
    if not await lock_user(conn, user_id=user_id):  # serialises the count below
        raise error("E16", "user_id: no such user", param="user_id")
    group = await _group_for(conn, body, body.model_fields_set, user_id=user_id)
    if group is None:
        raise error("E16", "group_id: a group is required (group_id or group)", param="group_id")
    limit = max_keys_per_user(deps.settings)
    if await apikeys.count_live_keys(conn, user_id=user_id) >= limit:
        raise error("CONFLICT", f"An account can have at most {limit} API keys; delete one first")
    fields = body.model_fields_set | {"name", "status"}
    columns = key_columns(body, fields, now(deps))
    key = new_key()
    key_id = await apikeys.insert_key(
        conn,
        user_id=user_id,
        group_id=group["id"],
        key_hash=key.key_hash,
        mask=key.mask,
        **columns,
    )
    return key_id, key.secret


def _writable(row: RowMapping) -> None:
    if row["managed"]:
        raise error("CONFLICT", "This API key is declared in the config file and is read-only")


async def update_key(
    deps: ApiDeps, conn: AsyncConnection, row: RowMapping, body: KeyUpdate
) -> dict[str, Any]:
    """Apply the fields sent; returns the columns written (for the audit trail)."""
    _writable(row)
    fields = set(body.model_fields_set)
    for name in ("group_id", "group"):
        if name in fields and getattr(body, name) is None:
            raise error("E16", f"{name}: must not be null", param=name)
    columns = key_columns(body, fields, now(deps))
    group = await _group_for(conn, body, fields, user_id=row["user_id"])
    if group is not None:
        columns["group_id"] = group["id"]
    await apikeys.update_key(conn, key_id=row["id"], values=columns)
    return columns


async def delete_key(conn: AsyncConnection, row: RowMapping) -> None:
    """Soft delete (R13.3): the gateway answers INVALID_API_KEY from the next request on."""
    _writable(row)
    await apikeys.soft_delete_key(conn, key_id=row["id"])


async def key_reads(
    deps: ApiDeps, conn: AsyncConnection, rows: Sequence[RowMapping]
) -> list[KeyRead]:
    """Rows of `key_select()` as `KeyRead`s, with today's and 30 days' spend (one query)."""
    at = now(deps)
    zone = deployment_zone(deps)
    day = calendar_windows(at, zone).day
    stats = await key_stats(conn, [r["id"] for r in rows], day_start=day, now=at, zone=zone)
    return [KeyRead.build(r, stats.get(r["id"])) for r in rows]


async def key_detail(deps: ApiDeps, conn: AsyncConnection, row: RowMapping) -> KeyDetail:
    (read,) = await key_reads(deps, conn, [row])
    at = now(deps)
    use = await key_window_requests(conn, row["id"], now=at, zone=deployment_zone(deps))
    live = None
    rec = deps.snapshot.current.keys.get(row["key_hash"])
    if rec is not None and row["deleted_at"] is None:
        live = await key_status(
            deps.snapshot.current,
            deps.ledger.state,
            rec,
            now=at.timestamp(),
            tz=deployment_zone(deps),
        )
    return KeyDetail(**read.model_dump(), window_use=WindowUse(**use), live=live)


async def key_page(deps: ApiDeps, conn: AsyncConnection, page: Page[Any]) -> Page[KeyRead]:
    data = await key_reads(deps, conn, page.data)
    return Page[KeyRead](data=data, page=page.page, page_size=page.page_size, total=page.total)
