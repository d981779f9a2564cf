"""In-memory view of keys, users, groups, models, channels and prices (SPEC R7.12, R20.3).

The hot path reads only this: no database round trip per request. It is rebuilt from the
database at start, after every edit (`SnapshotHolder.reload`, awaited before the edit returns),
on invalidation messages and periodically. Records are frozen; a reload swaps the whole view.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

# The records moved to the leaf `torouter.records`; they are re-exported here for this
# release so older imports keep working. New code imports them from `torouter.records`.
from torouter.records import (
    ChannelRec,
    GroupRec,
    IPNet,
    KeyLimits,
    KeyRec,
    ModelRec,
    PlanRec,
    Prices,
    Snapshot,
    SubscriptionRec,
    UserRec,
)
from torouter.storage import tables as t
from torouter.storage.db import Database
from torouter.storage.repos.channels import stored_proxy

__all__ = [
    "ChannelRec",
    "GroupRec",
    "IPNet",
    "KeyLimits",
    "KeyRec",
    "ModelRec",
    "PlanRec",
    "Prices",
    "Snapshot",
    "SnapshotHolder",
    "SubscriptionRec",
    "UserRec",
    "load_snapshot",
    "parse_ip_list",
    "resolve_limits",
]

log = logging.getLogger("torouter.snapshot")

_LIMIT_FIELDS = tuple(KeyLimits.__dataclass_fields__)


def resolve_limits(own: Any, defaults: dict[str, Any]) -> KeyLimits:
    """Null key limits inherit the group's `default_key_limits` (api_keys column names)."""
    values = {}
    for name in _LIMIT_FIELDS:
        v = getattr(own, name, None)
        if v is None:
            v = defaults.get(name)
        values[name] = int(v or 0)
    return KeyLimits(**values)


def parse_ip_list(text: str | None) -> tuple[IPNet, ...]:
    nets: list[IPNet] = []
    for line in (text or "").replace(",", "\n").splitlines():
        line = line.strip()
        if line:
            nets.append(ipaddress.ip_network(line, strict=False))
    return tuple(nets)


def _ts(value: dt.datetime | None) -> float | None:
    return value.timestamp() if value else None


def _prices(row: Any) -> Prices:
    return Prices.with_defaults(
        input=row.price_input,
        output=row.price_output,
        cache_read=row.price_cache_read,
        cache_write_5m=row.price_cache_write_5m,
        cache_write_1h=row.price_cache_write_1h,
        per_request=row.price_per_request,
        per_image=row.price_per_image,
        per_audio_minute=row.price_per_audio_minute,
        per_1m_characters=row.price_per_1m_characters,
    )


async def load_snapshot(db: Database, decrypt: Callable[[str], str]) -> Snapshot:
    snap = Snapshot()
    async with db.connect() as conn:
        for r in await conn.execute(select(t.users)):
            snap.users[r.id] = UserRec(r.id, r.email, r.state, r.role, r.balance_nusd)
        for r in await conn.execute(select(t.models).order_by(t.models.c.sort_order)):
            if not r.enabled:
                continue
            snap.models[r.id] = ModelRec(
                id=r.id,
                display_name=r.display_name or r.id,
                vendor=r.vendor,
                modality=r.modality,
                endpoints=frozenset(r.endpoints or ()),
                context_length=r.context_length,
                max_output_tokens=r.max_output_tokens,
                supports_thinking=r.supports_thinking,
                thinking_defaults=dict(r.thinking_defaults or {}),
                owned_by=r.owned_by or r.vendor,
                created=r.created or 0,
                prices=_prices(r),
            )
        catalogs: dict[int, list[str]] = {}
        q = select(t.group_models).order_by(t.group_models.c.group_id, t.group_models.c.position)
        for r in await conn.execute(q):
            if r.model_id in snap.models:
                catalogs.setdefault(r.group_id, []).append(r.model_id)
        grants: dict[int, set[int]] = {}
        for r in await conn.execute(select(t.group_grants)):
            grants.setdefault(r.group_id, set()).add(r.user_id)
        for r in await conn.execute(select(t.groups)):
            cat = tuple(catalogs.get(r.id, ()))
            snap.groups[r.id] = GroupRec(
                id=r.id,
                name=r.name,
                billing_type=r.billing_type,
                multiplier=r.price_multiplier,
                status=r.status,
                visibility=r.visibility,
                catalog=cat,
                catalog_set=frozenset(cat),
                granted=frozenset(grants.get(r.id, ())),
                default_key_limits=dict(r.default_key_limits or {}),
            )
        for r in await conn.execute(select(t.channels).order_by(t.channels.c.id)):
            snap.channels[r.id] = ChannelRec(
                id=r.id,
                name=r.name,
                platform=r.platform,
                base_url=(r.base_url or "").rstrip("/"),
                credential=decrypt(r.credential_enc) if r.credential_enc else "",
                models=frozenset(r.models or ()),
                model_mapping=dict(r.model_mapping or {}),
                priority=r.priority,
                weight=max(1, r.weight),
                connect_timeout=r.connect_timeout,
                first_byte_timeout=r.first_byte_timeout,
                stream_idle_timeout=r.stream_idle_timeout,
                status=r.status,
                max_concurrency=r.max_concurrency,
                options=dict(r.options or {}),
                endpoints=frozenset(r.endpoints) if r.endpoints else None,
                auto_disable=r.auto_disable,
                test_model=r.test_model,
                proxy=stored_proxy(r.proxy_enc, decrypt),  # decrypted here, once per load
            )
        routes: dict[tuple[int, str], list[ChannelRec]] = {}
        for r in await conn.execute(select(t.channel_groups)):
            ch = snap.channels.get(r.channel_id)
            group = snap.groups.get(r.group_id)
            if ch is None or group is None:
                continue
            for model_id in group.catalog:
                if model_id in ch.models:
                    routes.setdefault((group.id, model_id), []).append(ch)
        # The Snapshot is frozen; its dicts are filled here, before anyone can read it.
        snap.routes.update((k, tuple(sorted(v, key=lambda c: c.id))) for k, v in routes.items())
        q = select(t.api_keys).where(t.api_keys.c.deleted_at.is_(None))
        for r in await conn.execute(q):
            wl = [m.strip() for m in (r.model_whitelist or "").split(",") if m.strip()]
            g = snap.groups.get(r.group_id)
            limits = resolve_limits(r, g.default_key_limits if g else {})
            snap.keys[r.key_hash] = KeyRec(
                id=r.id,
                user_id=r.user_id,
                group_id=r.group_id,
                name=r.name,
                mask=r.mask,
                status=r.status,
                expires_at=_ts(r.expires_at),
                quota_nusd=limits.quota_nusd or None,
                model_whitelist=frozenset(wl) if wl else None,
                ip_whitelist=parse_ip_list(r.ip_whitelist),
                ip_blacklist=parse_ip_list(r.ip_blacklist),
                spend_nusd=r.spend_nusd,
                limits=limits,
            )
        for r in await conn.execute(select(t.plans)):
            snap.plans[r.id] = PlanRec(
                id=r.id,
                name=r.name,
                group_id=r.group_id,
                price_nusd=r.price_nusd,
                duration_days=r.duration_days,
                daily_cap_nusd=r.daily_cap_nusd,
                weekly_cap_nusd=r.weekly_cap_nusd,
                monthly_cap_nusd=r.monthly_cap_nusd,
                max_per_user=r.max_per_user,
                enabled=r.enabled,
            )
        for r in await conn.execute(select(t.subscriptions)):
            snap.subscriptions[(r.user_id, r.group_id)] = SubscriptionRec(
                id=r.id,
                user_id=r.user_id,
                group_id=r.group_id,
                plan_id=r.plan_id,
                daily_cap_nusd=r.daily_cap_nusd,
                weekly_cap_nusd=r.weekly_cap_nusd,
                monthly_cap_nusd=r.monthly_cap_nusd,
                starts_at=r.starts_at.timestamp(),
                expires_at=r.expires_at.timestamp(),
                auto_renew=r.auto_renew,
                state=r.state,
            )
    return snap


class SnapshotHolder:
    """Holds the current snapshot; `reload()` swaps in a fresh one (single-flight).

    `invalidate()` is what an edit calls before it returns (R7.12): reload here, then tell the
    other nodes over the bus, which reload when the message arrives.
    """

    CHANNEL = "snapshot"

    def __init__(
        self,
        db: Database,
        decrypt: Callable[[str], str],
        on_load: Callable[[Snapshot], Any] | None = None,
    ) -> None:
        self._db = db
        self._decrypt = decrypt
        self._on_load = on_load
        self._lock = asyncio.Lock()
        self._bus: Any = None
        self._node = ""
        self.current = Snapshot()
        self.loaded = False

    def attach(self, bus: Any, node_id: str) -> None:
        """Listen for other nodes' invalidations; flush when the bus reconnects."""
        self._bus = bus
        self._node = node_id
        bus.subscribe(self.CHANNEL, self._on_message)
        bus.on_reconnect(self._on_reconnect)

    async def reload(self) -> Snapshot:
        async with self._lock:
            snap = await load_snapshot(self._db, self._decrypt)
            if self._on_load is not None:
                result = self._on_load(snap)
                if asyncio.iscoroutine(result):
                    await result
            self.current = snap
            self.loaded = True
            return snap

    async def invalidate(self) -> Snapshot:
        """Reload now, then publish, so every node serves the edit (R7.12)."""
        snap = await self.reload()
        if self._bus is not None:
            await self._bus.publish(self.CHANNEL, self._node.encode())
        return snap

    async def _on_message(self, message: bytes) -> None:
        origin = message.decode("utf-8", "replace")
        if origin == self._node:
            return
        await self.reload()
        log.info("snapshot invalidated", extra={"origin": origin, "node": self._node})

    async def _on_reconnect(self) -> None:
        await self.reload()
        log.info("snapshot flushed after reconnect", extra={"node": self._node})
