"""Make the database match a validated `Plan` (R17.10), idempotently, in one transaction.

Rows are matched by name (groups, channels, plans), id (models), email (users), (user, name)
(keys) and (user, group) (subscriptions); only differing columns are written, so a second run
changes nothing. Declared rows are marked `managed`; a managed row no longer declared is
released (`managed = False`, editable again), never deleted.

Runtime state is left alone: a channel the health checker auto-disabled stays so while the
file says `enabled`; a key's spend and last use, a user's balance are never touched (the
declared `balance_usd` is granted once, as an `admin_credit` entry keyed `provision:<email>`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.access.keys import mask_key
from torouter.accounts.passwords import hash_password, verify_password
from torouter.crypto import CryptoError, Keyring, decrypt, encrypt, is_encrypted
from torouter.provisioning.entries import (
    ChannelEntry,
    GroupEntry,
    KeyEntry,
    ModelEntry,
    PlanEntry,
    SubscriptionEntry,
    UserEntry,
    usd_to_nusd,
)
from torouter.provisioning.validate import (
    Declared,
    Existing,
    Plan,
    ProvisioningError,
    key_hash_of,
)
from torouter.storage.repos._common import Action, now, select_one, sync_row
from torouter.storage.repos.apikeys import HASH_ONLY_MASK
from torouter.storage.repos.channels import channel_proxy, encrypt_proxy, set_channel_groups
from torouter.storage.repos.groups import set_group_models
from torouter.storage.repos.ledger import add_ledger_entry
from torouter.storage.repos.models import price_columns
from torouter.storage.repos.plans import plan_caps
from torouter.storage.tables import (
    api_keys,
    channels,
    groups,
    models,
    plans,
    subscriptions,
    users,
)

__all__ = ["ApplyReport", "Change", "load_existing", "provision_reference", "write_plan"]


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # groups, models, channels, users, keys, plans, subscriptions
    name: str
    action: Action | str  # created | updated | unchanged | released


@dataclass(slots=True)
class ApplyReport:
    changes: list[Change] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(c.action != "unchanged" for c in self.changes)

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def summary(self) -> str:
        actions = ("created", "updated", "released", "unchanged")
        return ", ".join(f"{self.count(a)} {a}" for a in actions)


def provision_reference(email: str) -> str:
    """The ledger reference of a user's one-time `balance_usd` grant (fits 100 chars)."""
    ref = f"provision:{email}"
    if len(ref) <= 100:
        return ref
    return "provision:sha256:" + hashlib.sha256(email.encode()).hexdigest()


async def load_existing(conn: AsyncConnection) -> Existing:
    group_rows = (await conn.execute(select(groups.c.name, groups.c.billing_type))).all()
    plan_rows = await conn.execute(
        select(plans.c.name, groups.c.name).join(groups, plans.c.group_id == groups.c.id)
    )
    return Existing(
        groups={name: billing for name, billing in group_rows},
        models=frozenset((await conn.execute(select(models.c.id))).scalars()),
        users=frozenset((await conn.execute(select(users.c.email))).scalars()),
        plans={name: group for name, group in plan_rows.all()},
    )


class _Writer:
    def __init__(self, conn: AsyncConnection, plan: Plan, keyring: Keyring) -> None:
        self.conn, self.plan, self.keyring = conn, plan, keyring
        self.report = ApplyReport()
        self.kept: dict[str, set[Any]] = {}  # table name → primary keys declared

    def note(self, table: Table, kind: str, name: str, action: str, row: RowMapping) -> None:
        self.report.changes.append(Change(kind, name, action))
        self.kept.setdefault(table.name, set()).add(row["id"])

    async def ids(self, table: Table, column: str) -> dict[str, int]:
        rows = await self.conn.execute(select(table.c[column], table.c.id))
        return {k: v for k, v in rows.all()}

    async def run(self) -> ApplyReport:
        for i, m in enumerate(self.plan.models):
            await self.model(m.entry, position=i)
        for g in self.plan.groups:
            await self.group(g.entry)
        group_ids = await self.ids(groups, "name")
        for c in self.plan.channels:
            await self.channel(c.entry, group_ids)
        for u in self.plan.users:
            await self.user(u.entry)
        for p in self.plan.plans:
            await self.plan_(p.entry, group_ids)
        user_ids = await self.ids(users, "email")
        for k in self.plan.keys:
            await self.key(k, user_ids, group_ids)
        for s in self.plan.subscriptions:
            await self.subscription(s.entry, user_ids)
        for table, kind in (
            (models, "models"),
            (groups, "groups"),
            (channels, "channels"),
            (users, "users"),
            (plans, "plans"),
            (api_keys, "keys"),
            (subscriptions, "subscriptions"),
        ):
            await self.release(table, kind, self.kept.get(table.name, set()))
        return self.report

    async def model(self, m: ModelEntry, *, position: int) -> None:
        values: dict[str, Any] = {
            "display_name": m.display_name,
            "vendor": m.vendor,
            "modality": m.modality,
            "endpoints": m.served_endpoints(),
            "context_length": m.context_length,
            "max_output_tokens": m.max_output_tokens,
            "supports_thinking": m.supports_thinking,
            "thinking_defaults": m.thinking_defaults,
            **price_columns(m.prices.model_dump()),
            "owned_by": m.owned_by or m.vendor,
            "enabled": m.enabled,
            "sort_order": position,
            "managed": True,
        }
        if m.created is not None:
            values["created"] = m.created
        action, row = await sync_row(
            self.conn,
            models,
            match={"id": m.id},
            values=values,
            on_insert={"created": int(time.time())},
        )
        self.note(models, "models", m.id, action, row)

    async def group(self, g: GroupEntry) -> None:
        action, row = await sync_row(
            self.conn,
            groups,
            match={"name": g.name},
            values={
                "billing_type": g.billing_type,
                "price_multiplier": g.price_multiplier,
                "visibility": g.visibility,
                "status": g.status,
                "description": g.description,
                "default_key_limits": g.default_key_limits.columns(),
                "managed": True,
            },
            on_insert={"created_at": now()},
        )
        if await set_group_models(self.conn, group_id=row["id"], model_ids=g.models):
            action = "updated" if action == "unchanged" else action
        self.note(groups, "groups", g.name, action, row)

    def _same_credential(self, row: RowMapping | None, credential: str | None) -> bool:
        if row is None:
            return False
        enc = row["credential_enc"]
        if enc is None or credential is None:
            return enc is None and credential is None
        try:
            return decrypt(enc, self.keyring) == credential
        except CryptoError:
            return False  # unreadable under the current keys: write it afresh

    def _same_proxy(self, row: RowMapping | None, proxy: str | None) -> bool:
        """True when the row already stores this proxy encrypted: a fresh nonce on every apply
        would report the channel as updated each time. One left in clear by a key-less
        migration (R18.2) is not the same: it is written afresh, encrypted."""
        if row is None:
            return False
        stored = row["proxy_enc"]
        if not stored or not proxy:
            return not stored and not proxy
        try:
            return is_encrypted(stored) and channel_proxy(row, self.keyring) == proxy
        except CryptoError:
            return False  # unreadable under the current keys: write it afresh

    async def channel(self, c: ChannelEntry, group_ids: dict[str, int]) -> None:
        row = await select_one(self.conn, channels, {"name": c.name})
        values: dict[str, Any] = {
            "platform": c.platform,
            "base_url": c.base_url,
            "models": c.models,
            "model_mapping": c.model_mapping,
            "priority": c.priority,
            "weight": c.weight,
            "connect_timeout": c.connect_timeout,
            "first_byte_timeout": c.first_byte_timeout,
            "stream_idle_timeout": c.stream_idle_timeout,
            "auto_disable": c.auto_disable,
            "test_model": c.test_model,
            "endpoints": c.endpoints,
            "max_concurrency": c.max_concurrency,
            "options": c.options(),
            "managed": True,
        }
        if not (c.status == "enabled" and row is not None and row["status"] == "auto_disabled"):
            values["status"] = c.status
        if not self._same_proxy(row, c.proxy):
            values["proxy_enc"] = encrypt_proxy(c.proxy, self.keyring)  # R9.1, encrypted
        if not self._same_credential(row, c.credential):
            values["credential_enc"] = (
                None if c.credential is None else encrypt(c.credential, self.keyring)
            )
        action, row = await sync_row(
            self.conn,
            channels,
            match={"name": c.name},
            values=values,
            on_insert={"created_at": now()},
            stamp="updated_at",
        )
        wanted = [group_ids[g] for g in c.groups]
        if await set_channel_groups(self.conn, channel_id=row["id"], group_ids=wanted):
            action = "updated" if action == "unchanged" else action
        self.note(channels, "channels", c.name, action, row)

    async def user(self, u: UserEntry) -> None:
        row = await select_one(self.conn, users, {"email": u.email})
        values: dict[str, Any] = {"role": u.role, "state": u.effective_state, "managed": True}
        verified_at = row["email_verified_at"] if row is not None else None
        values["email_verified_at"] = (verified_at or now()) if u.verified else None
        if "username" in u.model_fields_set:
            values["username"] = u.username
        if u.password_hash is not None:
            values["password_hash"] = u.password_hash
        elif u.password is not None and not (
            row is not None and verify_password(u.password, row["password_hash"])
        ):
            values["password_hash"] = hash_password(u.password)
        action, row = await sync_row(
            self.conn,
            users,
            match={"email": u.email},
            values=values,
            on_insert={"created_at": now()},
            stamp="updated_at",
        )
        if u.balance_usd:
            entry = await add_ledger_entry(
                self.conn,
                user_id=row["id"],
                amount_nusd=usd_to_nusd(u.balance_usd) or 0,
                reason="admin_credit",
                reference=provision_reference(u.email),
                actor="provisioning",
                note=f"balance_usd in {self.plan.source}",
            )
            if not entry.duplicate and action == "unchanged":
                action = "updated"
        self.note(users, "users", u.email, action, row)

    async def plan_(self, p: PlanEntry, group_ids: dict[str, int]) -> None:
        action, row = await sync_row(
            self.conn,
            plans,
            match={"name": p.name},
            values={
                "group_id": group_ids[p.group],
                "price_nusd": usd_to_nusd(p.price_usd),
                "duration_days": p.duration_days,
                "daily_cap_nusd": usd_to_nusd(p.daily_cap_usd),
                "weekly_cap_nusd": usd_to_nusd(p.weekly_cap_usd),
                "monthly_cap_nusd": usd_to_nusd(p.monthly_cap_usd),
                "max_per_user": p.max_per_user,
                "enabled": p.enabled,
                "managed": True,
            },
            on_insert={"created_at": now()},
        )
        self.note(plans, "plans", p.name, action, row)

    async def key(
        self, item: Declared[KeyEntry], user_ids: dict[str, int], group_ids: dict[str, int]
    ) -> None:
        k = item.entry
        key_hash = key_hash_of(k.key)
        match = {"user_id": user_ids[k.user], "name": k.name, "deleted_at": None}
        other = await select_one(self.conn, api_keys, {"key_hash": key_hash})
        if other is not None and (other["user_id"], other["name"]) != (match["user_id"], k.name):
            raise ProvisioningError([item.problem("key", "already used by another key")])
        action, row = await sync_row(
            self.conn,
            api_keys,
            match=match,
            values={
                "group_id": group_ids[k.group],
                "key_hash": key_hash,
                "mask": HASH_ONLY_MASK if k.key.startswith("sha256:") else mask_key(k.key),
                "status": k.status,
                "quota_nusd": usd_to_nusd(k.quota_usd),
                "expires_at": k.expires_at,
                "requests_5h": k.requests_5h,
                "requests_1d": k.requests_1d,
                "requests_7d": k.requests_7d,
                "rpm": k.rpm,
                "tpm": k.tpm,
                "max_concurrency": k.max_concurrency,
                "budget_daily_nusd": usd_to_nusd(k.budget_daily_usd),
                "budget_weekly_nusd": usd_to_nusd(k.budget_weekly_usd),
                "budget_monthly_nusd": usd_to_nusd(k.budget_monthly_usd),
                "ip_whitelist": "\n".join(k.ip_whitelist),
                "ip_blacklist": "\n".join(k.ip_blacklist),
                "model_whitelist": k.model_whitelist,
                "managed": True,
            },
            on_insert={"created_at": now()},
        )
        self.note(api_keys, "keys", f"{k.user}/{k.name}", action, row)

    async def subscription(self, s: SubscriptionEntry, user_ids: dict[str, int]) -> None:
        plan = await select_one(self.conn, plans, {"name": s.plan})
        assert plan is not None  # checked by validate()
        values: dict[str, Any] = {
            "plan_id": plan["id"],
            **plan_caps(plan),
            "state": s.state,
            "auto_renew": s.auto_renew,
            "managed": True,
        }
        if s.starts_at is not None:
            values["starts_at"] = s.starts_at
        if s.expires_at is not None:
            values["expires_at"] = s.expires_at
        starts = s.starts_at or now()
        action, row = await sync_row(
            self.conn,
            subscriptions,
            match={"user_id": user_ids[s.user], "group_id": plan["group_id"]},
            values=values,
            on_insert={
                "starts_at": starts,
                "expires_at": starts + dt.timedelta(days=plan["duration_days"]),
                "created_at": now(),
            },
        )
        self.note(subscriptions, "subscriptions", f"{s.user}/{s.plan}", action, row)

    async def release(self, table: Table, kind: str, kept: Collection[Any]) -> None:
        pk = table.c.id
        rows = await self.conn.execute(
            select(pk).where(table.c.managed.is_(True), pk.not_in(list(kept)))
        )
        released = list(rows.scalars())
        if released:
            await self.conn.execute(update(table).where(pk.in_(released)).values(managed=False))
            self.report.changes.extend(Change(kind, str(r), "released") for r in released)


async def write_plan(conn: AsyncConnection, plan: Plan, keyring: Keyring) -> ApplyReport:
    return await _Writer(conn, plan, keyring).run()
