"""The read-only admin list of channels (R9.1).

No answer carries a secret: channels say whether a credential is set but never what it is
(nor their `options`, which may hold extra auth headers), and URLs lose any user:password part.
Groups and models have their own modules (`groups.py`, `models.py`).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Query
from sqlalchemy import select

from torouter.api.catalog_reads import links as catalog_links
from torouter.api.deps import ApiDeps, Deps
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.schemas import ApiModel, Timestamp
from torouter.crypto import CryptoError, Keyring
from torouter.storage.repos.channels import channel_proxy
from torouter.storage.tables import channel_groups, channels

__all__ = ["ChannelRead", "keyring_of", "redact_url", "redacted_proxy", "router"]

router = APIRouter(tags=["catalog"])


def redact_url(url: str | None) -> str | None:
    """Drop a `user:password@` part (a proxy or base URL may embed credentials)."""
    if not url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def keyring_of(deps: ApiDeps) -> Keyring:
    """The deployment's keyring: the accounts service's, else the settings' (R18.2)."""
    if deps.accounts is not None:
        return deps.accounts.keyring
    from torouter.crypto import keyring_for

    return keyring_for(deps.settings)


def redacted_proxy(row: Any, keyring: Keyring) -> str | None:
    """A channel row's egress proxy as reads show it: decrypted, then without `user:password`.

    One the current keys cannot decrypt (its key was dropped from `encryption_key`) shows as
    `***`: a read never fails on it, and a console form sent back unchanged keeps it.
    """
    try:
        return redact_url(channel_proxy(row, keyring))
    except CryptoError:
        return "***"


class ChannelRead(ApiModel):
    id: int
    name: str
    platform: str
    base_url: str | None
    has_credential: bool
    models: list[str]
    model_mapping: dict[str, str]
    group_ids: list[int]
    priority: int
    weight: int
    connect_timeout: float
    first_byte_timeout: float
    stream_idle_timeout: float
    proxy: str | None
    auto_disable: bool
    status: str
    status_reason: str | None
    status_since: Timestamp | None
    test_model: str | None
    endpoints: list[str] | None
    max_concurrency: int
    managed: bool
    created_at: Timestamp
    updated_at: Timestamp | None


@router.get("/channels", response_model=Page[ChannelRead], summary="List channels")
async def list_channels(
    deps: Deps,
    paging: Paging,
    platform: Annotated[str | None, Query(max_length=20)] = None,
    status: Annotated[str | None, Query(max_length=14)] = None,
) -> Page[ChannelRead]:
    stmt = select(channels).order_by(channels.c.id)
    for column, value in (("platform", platform), ("status", status)):
        if value is not None:
            stmt = stmt.where(channels.c[column] == value)
    keyring = keyring_of(deps)
    async with deps.db.connect() as conn:
        page = await fetch_page(conn, stmt, paging, dict)
        ids = [r["id"] for r in page.data]
        links = await catalog_links(
            conn, channel_groups, channel_groups.c.channel_id, channel_groups.c.group_id, ids
        )
    data = [
        ChannelRead.from_row(
            r,
            base_url=redact_url(r["base_url"]),
            proxy=redacted_proxy(r, keyring),
            has_credential=r["credential_enc"] is not None,
            group_ids=links[r["id"]],
        )
        for r in page.data
    ]
    return Page[ChannelRead](data=data, page=page.page, page_size=page.page_size, total=page.total)
