"""What the signed-in user can use: their groups (public or granted, enabled)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select

from torouter.storage.tables import group_grants, groups

__all__ = ["visible_groups"]


def visible_groups(user_id: int) -> ColumnElement[bool]:
    """SQL for "an enabled group the user may bind keys to" (R7.6)."""
    granted = select(group_grants.c.group_id).where(group_grants.c.user_id == user_id)
    return (groups.c.status == "enabled") & or_(
        groups.c.visibility == "public", groups.c.id.in_(granted)
    )
