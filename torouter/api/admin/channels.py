"""Admin channel management (SPEC R9.1, R9.9, R18.4): create, edit, delete, test, enable,
disable, and the health view. The list lives in `catalog.py`.

Credentials are write-only and stored encrypted; every change reloads the gateway's snapshot
before it returns, so the next request already routes by it.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Response
from pydantic import Field, field_validator
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.api.admin.catalog import ChannelRead, keyring_of, redact_url, redacted_proxy
from torouter.api.audit import record_audit
from torouter.api.auth import Admin
from torouter.api.changes import publish
from torouter.api.deps import ApiDeps, Deps
from torouter.api.fields import Count, Id, NotNull
from torouter.api.schemas import ApiModel, ErrorEnvelope, InputModel
from torouter.crypto import Keyring, encrypt
from torouter.errors import error
from torouter.platforms.names import PlatformName
from torouter.platforms.registry import spec_for
from torouter.records import ChannelStatus
from torouter.routing.upstream_models import (
    UpstreamListError,
    compare,
    fetch_upstream_models,
    upstream_ids,
)
from torouter.storage.repos.channels import create_channel, encrypt_proxy, set_channel_groups
from torouter.storage.tables import channel_groups, channels, groups
from torouter.upstreams.proxy_url import valid_proxy
from torouter.usage.test_rows import record_test

__all__ = ["router"]

router = APIRouter(prefix="/channels", tags=["admin: channels"])

Platform = PlatformName


def _check_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http or https URL")
    return value.rstrip("/")


Timeout = Annotated[float, Field(gt=0, le=3600)]


class ChannelFields(InputModel):
    base_url: str | None = Field(default=None, max_length=500)
    credential: str | None = Field(default=None, max_length=20_000)
    models: NotNull[list[str]] = None
    model_mapping: NotNull[dict[str, str]] = None
    groups: NotNull[list[str]] = None
    priority: NotNull[Annotated[int, Field(ge=-1_000_000, le=1_000_000)]] = None
    weight: NotNull[Annotated[int, Field(ge=1, le=1000)]] = None
    connect_timeout: NotNull[Timeout] = None
    first_byte_timeout: NotNull[Timeout] = None
    stream_idle_timeout: NotNull[Timeout] = None
    proxy: str | None = Field(default=None, max_length=500)
    auto_disable: NotNull[bool] = None
    test_model: str | None = Field(default=None, max_length=200)
    endpoints: list[str] | None = None
    max_concurrency: NotNull[Count] = None
    responses_native: bool | None = None
    send_reasoning_history: bool | None = None
    extra_headers: dict[str, str] | None = None
    api_version: str | None = None

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        return _check_url(v)

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, v: str | None) -> str | None:
        return valid_proxy(v)  # R9.1: scheme, host, port, optional user:password


class ChannelCreate(ChannelFields):
    name: str = Field(min_length=1, max_length=100)
    platform: Platform


class ChannelUpdate(ChannelFields):
    name: NotNull[Annotated[str, Field(min_length=1, max_length=100)]] = None


_OPTIONS = ("responses_native", "send_reasoning_history", "extra_headers", "api_version")
_COLUMNS = (
    "base_url",
    "models",
    "model_mapping",
    "priority",
    "weight",
    "connect_timeout",
    "first_byte_timeout",
    "stream_idle_timeout",
    "proxy",
    "auto_disable",
    "test_model",
    "endpoints",
    "max_concurrency",
)


async def _group_ids(conn: AsyncConnection, names: list[str]) -> list[int]:
    rows = dict((await conn.execute(select(groups.c.name, groups.c.id))).all())
    missing = [n for n in names if n not in rows]
    if missing:
        raise error("E16", f"unknown group {missing[0]!r}", param="groups")
    return [rows[n] for n in names]


async def _read(conn: AsyncConnection, channel_id: int, keyring: Keyring) -> ChannelRead:
    row = (
        (await conn.execute(select(channels).where(channels.c.id == channel_id))).mappings().first()
    )
    if row is None:
        raise error("E19", "Channel not found")
    gids = (
        await conn.execute(
            select(channel_groups.c.group_id).where(channel_groups.c.channel_id == channel_id)
        )
    ).scalars()
    return ChannelRead.from_row(
        row,
        base_url=redact_url(row["base_url"]),
        proxy=redacted_proxy(row, keyring),
        has_credential=row["credential_enc"] is not None,
        group_ids=sorted(gids),
    )


_keyring = keyring_of


@router.post(
    "",
    status_code=201,
    response_model=ChannelRead,
    responses={409: {"model": ErrorEnvelope}},
    summary="Create a channel",
)
async def create(body: ChannelCreate, deps: Deps, principal: Admin) -> ChannelRead:
    if spec_for(body.platform).base_url_required and not body.base_url:
        raise error("E16", f"base_url is required for {body.platform} channels", param="base_url")
    sent = body.model_dump(exclude_unset=True)
    options = {k: sent.pop(k) for k in _OPTIONS if k in sent}
    async with deps.db.begin() as conn:
        if (await conn.execute(select(channels.c.id).where(channels.c.name == body.name))).first():
            raise error("CONFLICT", f"a channel named {body.name!r} exists")
        gids = await _group_ids(conn, sent.pop("groups", None) or [])
        columns = {k: sent[k] for k in _COLUMNS if k in sent and k != "models"}
        cid = await create_channel(
            conn,
            name=body.name,
            platform=body.platform,
            keyring=_keyring(deps),
            credential=body.credential,
            models=body.models or [],
            group_ids=gids,
            options=options,
            **columns,
        )
        await record_audit(
            conn, actor=principal.actor, action="channel.create", target=f"channel:{cid}"
        )
        out = await _read(conn, cid, _keyring(deps))
    await publish(deps)
    return out


async def _managed_guard(conn: AsyncConnection, channel_id: int) -> dict[str, Any]:
    row = (
        (await conn.execute(select(channels).where(channels.c.id == channel_id))).mappings().first()
    )
    if row is None:
        raise error("E19", "Channel not found")
    if row["managed"]:
        raise error("CONFLICT", "This channel is declared in the config file and is read-only")
    return dict(row)


@router.patch(
    "/{channel_id}",
    response_model=ChannelRead,
    responses={409: {"model": ErrorEnvelope}},
    summary="Edit a channel",
)
async def edit(channel_id: Id, body: ChannelUpdate, deps: Deps, principal: Admin) -> ChannelRead:
    sent = body.model_dump(exclude_unset=True)
    async with deps.db.begin() as conn:
        row = await _managed_guard(conn, channel_id)
        values: dict[str, Any] = {k: sent[k] for k in _COLUMNS if k in sent}
        if "name" in sent and sent["name"] != row["name"]:
            taken = select(channels.c.id).where(channels.c.name == sent["name"])
            if (await conn.execute(taken)).first():
                raise error("CONFLICT", f"a channel named {sent['name']!r} exists")
            values["name"] = sent["name"]
        if "proxy" in values:  # R9.1: stored encrypted, like the credential (R18.2)
            values["proxy_enc"] = encrypt_proxy(values.pop("proxy"), _keyring(deps))
        if "credential" in sent:
            cred = sent["credential"]
            values["credential_enc"] = encrypt(cred, _keyring(deps)) if cred else None
        opts = dict(row["options"] or {})
        for k in _OPTIONS:
            if k in sent:
                opts[k] = sent[k]
        values["options"] = opts
        values["updated_at"] = dt.datetime.now(dt.UTC)
        await conn.execute(update(channels).where(channels.c.id == channel_id).values(values))
        if "groups" in sent and sent["groups"] is not None:
            gids = await _group_ids(conn, sent["groups"])
            await set_channel_groups(conn, channel_id=channel_id, group_ids=gids)
        changed = sorted(k for k in sent if k != "credential") + (
            ["credential"] if "credential" in sent else []
        )
        await record_audit(
            conn,
            actor=principal.actor,
            action="channel.update",
            target=f"channel:{channel_id}",
            detail={"fields": changed},
        )
        out = await _read(conn, channel_id, _keyring(deps))
    await publish(deps)
    return out


@router.delete(
    "/{channel_id}",
    status_code=204,
    response_class=Response,
    responses={409: {"model": ErrorEnvelope}},
    summary="Delete a channel",
)
async def remove(channel_id: Id, deps: Deps, principal: Admin) -> Response:
    async with deps.db.begin() as conn:
        await _managed_guard(conn, channel_id)
        await conn.execute(delete(channel_groups).where(channel_groups.c.channel_id == channel_id))
        await conn.execute(delete(channels).where(channels.c.id == channel_id))
        await record_audit(
            conn, actor=principal.actor, action="channel.delete", target=f"channel:{channel_id}"
        )
    await publish(deps)
    return Response(status_code=204)


async def _set_status(
    deps: ApiDeps, channel_id: int, status: ChannelStatus, actor: str
) -> ChannelRead:
    async with deps.db.begin() as conn:
        before = (await _managed_guard(conn, channel_id))["status"]  # managed: read-only
        await conn.execute(
            update(channels)
            .where(channels.c.id == channel_id)
            .values(status=status, status_reason=None, status_since=dt.datetime.now(dt.UTC))
        )
        await record_audit(
            conn,
            actor=actor,
            action=f"channel.{status}",
            target=f"channel:{channel_id}",
            detail={"status": {"from": before, "to": status}},
        )
        out = await _read(conn, channel_id, _keyring(deps))
    if deps.health is not None and status == "enabled":
        deps.health.enable(channel_id)
    await publish(deps)
    return out


@router.post("/{channel_id}/enable", response_model=ChannelRead, summary="Enable a channel")
async def enable(channel_id: Id, deps: Deps, principal: Admin) -> ChannelRead:
    return await _set_status(deps, channel_id, "enabled", principal.actor)


@router.post("/{channel_id}/disable", response_model=ChannelRead, summary="Disable a channel")
async def disable(channel_id: Id, deps: Deps, principal: Admin) -> ChannelRead:
    """An admin disable is never undone automatically (R9.1)."""
    return await _set_status(deps, channel_id, "disabled", principal.actor)


@router.post("/{channel_id}/test", summary="Send one unbilled request through the channel")
async def test(channel_id: Id, deps: Deps, principal: Admin) -> dict[str, Any]:
    """R9.9: status, latency and the first 200 characters of the answer. The Test is kept as
    the channel's last probe, as a usage row with outcome `test` and in the audit log."""
    from torouter.routing.probe import probe_channel

    ch = deps.snapshot.current.channels.get(channel_id)
    if ch is None:
        raise error("E19", "Channel not found")
    if deps.http is None:
        raise error("E20", "The upstream client is not running")
    t0 = time.perf_counter()
    ok, status, text = await probe_channel(deps.http, ch)
    latency_ms = int((time.perf_counter() - t0) * 1000)
    if deps.health is not None:
        deps.health.probed(channel_id, ok, status, text)
    request_id = await record_test(
        deps.db,
        channel_id=channel_id,
        model=ch.test_model or next(iter(sorted(ch.models)), None),
        status=status,
        ok=ok,
        latency_ms=latency_ms,
        actor=principal.actor,
    )
    async with deps.db.begin() as conn:
        await record_audit(
            conn,
            actor=principal.actor,
            action="channel.test",
            target=f"channel:{channel_id}",
            detail={"ok": ok, "status": status, "latency_ms": latency_ms},
        )
    return {
        "channel_id": channel_id,
        "ok": ok,
        "status": status,
        "latency_ms": latency_ms,
        "response": text,
        "request_id": request_id,
    }


@router.get("/health", summary="Health of every channel")
async def health_all(deps: Deps, principal: Admin) -> dict[str, Any]:
    chans = deps.snapshot.current.channels.values()
    if deps.health is None:
        return {"data": []}
    return {"data": [deps.health.view(ch) for ch in chans]}


@router.get("/{channel_id}/health", summary="Health of one channel")
async def health_one(channel_id: Id, deps: Deps, principal: Admin) -> dict[str, Any]:
    ch = deps.snapshot.current.channels.get(channel_id)
    if ch is None:
        raise error("E19", "Channel not found")
    if deps.health is None:
        raise error("E20", "Channel health is not available")
    return deps.health.view(ch)


@router.get("/{channel_id}", response_model=ChannelRead, summary="Get a channel")
async def get_channel(channel_id: Id, deps: Deps) -> ChannelRead:
    async with deps.db.connect() as conn:
        return await _read(conn, channel_id, _keyring(deps))


class ModelDiffRead(ApiModel):
    upstream: list[str] = Field(description="Every model id the upstream's `/models` lists")
    additions: list[str] = Field(description="Listed upstream, not served by the channel")
    removals: list[str] = Field(description="Served by the channel, no longer listed upstream")
    kept: list[str] = Field(description="Served and listed")


@router.get(
    "/{channel_id}/models/diff",
    response_model=ModelDiffRead,
    summary="Compare a channel's models with its upstream's model list",
    description="Asks the upstream's `GET …/models` with the channel's credential. A served "
    "model matches by its upstream id (mapping, R6.2). Apply a change with `PATCH` `models`. "
    "An upstream that gives no list is 502 `upstream_unavailable` with its reason.",
)
async def models_diff(channel_id: Id, deps: Deps) -> ModelDiffRead:
    ch = deps.snapshot.current.channels.get(channel_id)
    if ch is None:
        raise error("E19", "Channel not found")
    if deps.http is None:
        raise error("E20", "The upstream client is not running")
    try:
        listed = await fetch_upstream_models(deps.http, ch)
    except UpstreamListError as exc:
        raise error("E21", f"The upstream gave no model list: {exc}") from None
    found = compare(ch.models, upstream_ids(deps.snapshot.current, ch), listed)
    return ModelDiffRead(
        upstream=list(found.upstream),
        additions=list(found.additions),
        removals=list(found.removals),
        kept=list(found.kept),
    )
