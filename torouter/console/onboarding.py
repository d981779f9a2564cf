"""The onboarding checklist (R15.4): create a key → copy a snippet → first request seen.

Two steps are facts of the data: the user has (or had) a key, and one of their keys has been
used (`api_keys.last_used_at`, written by the usage writer with the first settled request).
Copying a snippet happens in the browser, so it is recorded when the user copies one (the
copy button posts it) or says so on the "use this key" page; it is kept in the `settings`
table under `user.<id>.onboarding`, which needs no schema change.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.storage.repos._common import select_one, sync_row
from torouter.storage.tables import api_keys, settings_kv

__all__ = ["Checklist", "load_checklist", "mark_snippet_copied"]


def _setting(user_id: int) -> str:
    return f"user.{user_id}.onboarding"


@dataclass(frozen=True, slots=True)
class Checklist:
    key_created: bool
    snippet_copied: bool
    first_request: bool
    first_key_id: int | None  # a live key to point the "use this key" step at

    @property
    def done(self) -> bool:
        return self.key_created and self.snippet_copied and self.first_request

    @property
    def steps_done(self) -> int:
        return sum((self.key_created, self.snippet_copied, self.first_request))


async def load_checklist(conn: AsyncConnection, user_id: int) -> Checklist:
    c = api_keys.c
    made, used, live = (
        await conn.execute(
            select(
                func.count(),
                func.count(c.last_used_at),
                func.min(c.id).filter(c.deleted_at.is_(None)),
            ).where(c.user_id == user_id)
        )
    ).one()
    row = await select_one(conn, settings_kv, {"key": _setting(user_id)})
    copied = bool(row is not None and isinstance(row["value"], dict) and row["value"].get("copied"))
    return Checklist(
        key_created=made > 0,
        snippet_copied=copied or used > 0,  # a request made means the settings were copied
        first_request=used > 0,
        first_key_id=live,
    )


async def mark_snippet_copied(conn: AsyncConnection, user_id: int) -> None:
    await sync_row(
        conn,
        settings_kv,
        match={"key": _setting(user_id)},
        values={"value": {"copied": True}},
        stamp="updated_at",
    )
