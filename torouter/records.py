"""Frozen records: what the gateway serves, as plain values (SPEC R7.12, R20.3).

A leaf module: it imports nothing from torouter, so every layer can name these types without
pulling in the SQL loader (`snapshot.py`), the cost formula (`billing/pricing.py`) or anything
above them. `snapshot.load_snapshot` builds them from the database; the hot path (access,
routing, upstreams, gateway) only reads them. A reload swaps the whole `Snapshot`, never a
field, so a request sees one consistent view.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

__all__ = [
    "BillingType",
    "ChannelRec",
    "ChannelStatus",
    "GroupRec",
    "GroupStatus",
    "IPNet",
    "KeyLimits",
    "KeyRec",
    "KeyStatus",
    "ModelRec",
    "PlanRec",
    "Prices",
    "Row",
    "Snapshot",
    "SubscriptionRec",
    "SubscriptionState",
    "UserRec",
    "UserRole",
    "UserState",
    "Visibility",
]

_ZERO = Decimal(0)

# A stored row as the domain reads it: SQLAlchemy's `RowMapping` (keyed by column name or by
# column) or a plain dict in tests. Not `Mapping[str, Any]`: Mapping is invariant in its key
# type, so that would refuse the RowMapping every repository returns.
Row = Mapping[Any, Any]

# `auto_disabled` is the health book's (R9.6), cleared by a probe; `disabled` is an admin's.
ChannelStatus = Literal["enabled", "disabled", "auto_disabled"]
SubscriptionState = Literal["active", "paused", "cancelled", "expired"]
# The values the API writes to these columns (the database has no CHECK for them).
UserState = Literal["unverified", "active", "suspended", "deleted"]
UserRole = Literal["user", "admin"]
KeyStatus = Literal["active", "disabled"]  # a deleted key keeps its status: `deleted_at` is set
GroupStatus = Literal["enabled", "disabled"]
BillingType = Literal["balance", "subscription"]
Visibility = Literal["public", "private"]


@dataclass(frozen=True, slots=True)
class Prices:
    """A model's prices as exact decimals: USD per 1M tokens, or per request, image, audio
    minute and 1M characters (R10.3). `billing.pricing.cost_nusd` turns them into a cost."""

    input: Decimal = _ZERO
    output: Decimal = _ZERO
    cache_read: Decimal = _ZERO
    cache_write_5m: Decimal = _ZERO
    cache_write_1h: Decimal = _ZERO
    per_request: Decimal = _ZERO
    per_image: Decimal = _ZERO
    per_audio_minute: Decimal = _ZERO
    per_1m_characters: Decimal = _ZERO

    @classmethod
    def with_defaults(
        cls,
        *,
        input: Decimal | None = None,
        output: Decimal | None = None,
        cache_read: Decimal | None = None,
        cache_write_5m: Decimal | None = None,
        cache_write_1h: Decimal | None = None,
        per_request: Decimal | None = None,
        per_image: Decimal | None = None,
        per_audio_minute: Decimal | None = None,
        per_1m_characters: Decimal | None = None,
    ) -> Prices:
        """Unset prices are 0, except the cache prices, which default from `input` (R10.3)."""
        inp = input if input is not None else _ZERO
        return cls(
            input=inp,
            output=output if output is not None else _ZERO,
            cache_read=cache_read if cache_read is not None else inp,
            cache_write_5m=cache_write_5m if cache_write_5m is not None else inp * Decimal("1.25"),
            cache_write_1h=cache_write_1h if cache_write_1h is not None else inp * 2,
            per_request=per_request or _ZERO,
            per_image=per_image or _ZERO,
            per_audio_minute=per_audio_minute or _ZERO,
            per_1m_characters=per_1m_characters or _ZERO,
        )


IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class UserRec:
    id: int
    email: str
    state: UserState
    role: UserRole
    balance_nusd: int


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """A key's effective limits (R7.2): its own, else its group's default; 0 = off."""

    quota_nusd: int = 0
    requests_5h: int = 0
    requests_1d: int = 0
    requests_7d: int = 0
    rpm: int = 0
    tpm: int = 0
    max_concurrency: int = 0
    budget_daily_nusd: int = 0
    budget_weekly_nusd: int = 0
    budget_monthly_nusd: int = 0


@dataclass(frozen=True, slots=True)
class KeyRec:
    id: int
    user_id: int
    group_id: int
    name: str
    mask: str
    status: KeyStatus
    expires_at: float | None  # unix seconds
    quota_nusd: int | None  # 0/None = no cap
    model_whitelist: frozenset[str] | None
    ip_whitelist: tuple[IPNet, ...]
    ip_blacklist: tuple[IPNet, ...]
    spend_nusd: int
    limits: KeyLimits = KeyLimits()


@dataclass(frozen=True, slots=True)
class ModelRec:
    id: str
    display_name: str
    vendor: str
    modality: str
    endpoints: frozenset[str]
    context_length: int | None
    max_output_tokens: int | None
    supports_thinking: bool
    thinking_defaults: dict[str, Any]
    owned_by: str
    created: int
    prices: Prices


@dataclass(frozen=True, slots=True)
class ChannelRec:
    id: int
    name: str
    platform: str
    base_url: str
    credential: str
    models: frozenset[str]
    model_mapping: dict[str, str]
    priority: int
    weight: int
    connect_timeout: float
    first_byte_timeout: float
    stream_idle_timeout: float
    status: ChannelStatus
    max_concurrency: int
    options: dict[str, Any]
    endpoints: frozenset[str] | None = None  # None: all the platform can serve
    auto_disable: bool = True
    test_model: str | None = None
    # R9.1 egress proxy URL, credentials included (never logged: `upstreams.proxy_url`).
    proxy: str | None = field(default=None, repr=False)

    def upstream_model(self, public_id: str, vendor: str = "", sent: str | None = None) -> str:
        """R6.2: the mapping, else on openrouter the vendor id as sent or `<vendor>/M`, else M."""
        mapped = self.model_mapping.get(public_id)
        if mapped:
            return mapped
        if self.platform == "openrouter":
            if sent:
                return sent
            return f"{vendor}/{public_id}" if vendor else public_id
        return public_id


@dataclass(frozen=True, slots=True)
class GroupRec:
    id: int
    name: str
    billing_type: BillingType
    multiplier: Decimal
    status: GroupStatus
    visibility: Visibility
    catalog: tuple[str, ...]  # ordered public ids
    catalog_set: frozenset[str]
    granted: frozenset[int]  # user ids (private groups)
    default_key_limits: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlanRec:
    id: int
    name: str
    group_id: int
    price_nusd: int
    duration_days: int
    daily_cap_nusd: int
    weekly_cap_nusd: int
    monthly_cap_nusd: int
    max_per_user: int
    enabled: bool


@dataclass(frozen=True, slots=True)
class SubscriptionRec:
    id: int
    user_id: int
    group_id: int
    plan_id: int | None
    daily_cap_nusd: int
    weekly_cap_nusd: int
    monthly_cap_nusd: int
    starts_at: float  # unix seconds
    expires_at: float
    auto_renew: bool
    state: SubscriptionState


@dataclass(frozen=True, slots=True)
class Snapshot:
    keys: dict[str, KeyRec] = field(default_factory=dict)  # by SHA-256 hex
    users: dict[int, UserRec] = field(default_factory=dict)
    groups: dict[int, GroupRec] = field(default_factory=dict)
    models: dict[str, ModelRec] = field(default_factory=dict)
    channels: dict[int, ChannelRec] = field(default_factory=dict)
    # (group id, public model id) → channels able to serve it, enabled or not.
    routes: dict[tuple[int, str], tuple[ChannelRec, ...]] = field(default_factory=dict)
    plans: dict[int, PlanRec] = field(default_factory=dict)
    # (user id, group id) → the one subscription of that pair (R7.7)
    subscriptions: dict[tuple[int, int], SubscriptionRec] = field(default_factory=dict)
