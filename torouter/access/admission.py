"""The ordered admission checks of SPEC R7.1 against the in-memory snapshot. Pure.

`check_key` runs steps 2–6 (before the body is read); `check_model` runs steps 7–8;
`check_subscription` step 9. Steps 10–11 (windows, reservation) are one atomic call of the
state backend, described by `access/limits.py` and made by `billing/ledger.py`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from torouter.errors import error
from torouter.records import (
    ChannelRec,
    GroupRec,
    KeyRec,
    ModelRec,
    Snapshot,
    SubscriptionRec,
    UserRec,
)

__all__ = [
    "Admission",
    "KeyAdmission",
    "check_key",
    "check_model",
    "check_subscription",
    "ip_allowed",
]


@dataclass(frozen=True, slots=True)
class KeyAdmission:
    key: KeyRec
    user: UserRec


@dataclass(frozen=True, slots=True)
class Admission:
    key: KeyRec
    user: UserRec
    group: GroupRec
    model: ModelRec
    channels: tuple[ChannelRec, ...]
    thinking: bool = False  # `-thinking` requested (R6.4)
    vendor_id: str | None = None  # `vendor/X` as sent, for openrouter channels (R6.2)


def ip_allowed(key: KeyRec, client_ip: str | None) -> bool:
    """R7.3 four cases; IPv4-mapped IPv6 compares as IPv4."""
    if not key.ip_whitelist and not key.ip_blacklist:
        return True
    if not client_ip:
        return False
    try:
        ip = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if key.ip_whitelist and not any(ip in net for net in key.ip_whitelist):
        return False
    return not any(ip in net for net in key.ip_blacklist)


def check_key(snap: Snapshot, key_hash: str, *, now: float, client_ip: str | None) -> KeyAdmission:
    key = snap.keys.get(key_hash)
    if key is None:
        raise error("E2")
    if key.status != "active":
        raise error("E3")
    user = snap.users.get(key.user_id)
    if user is None or user.state == "deleted":
        raise error("E4")
    if user.state != "active":
        raise error("E5")
    if key.expires_at is not None and key.expires_at <= now:
        raise error("E6")
    if not ip_allowed(key, client_ip):
        raise error("E7")
    return KeyAdmission(key, user)


# A vendor prefix (R6.1 rule 3) falls back to native channels of this platform.
VENDOR_PLATFORM = {"openai": "openai", "anthropic": "anthropic", "google": "gemini"}


def check_model(snap: Snapshot, ka: KeyAdmission, model_id: str) -> Admission:
    """Steps 7–8: whitelist, group, catalog resolution (R6.1, R7.4)."""
    key = ka.key
    base = model_id.removesuffix("-thinking")
    if key.model_whitelist is not None and base not in key.model_whitelist:
        raise error("E8")
    group = snap.groups.get(key.group_id)
    if group is None or group.status != "enabled":
        raise error("E24")
    if group.visibility == "private" and ka.user.id not in group.granted:
        raise error("E25")
    public_id, thinking = _resolve_thinking(snap, group, model_id)
    vendor_id = None
    if public_id is None and "/" in model_id:
        vendor, _, rest = model_id.partition("/")
        public_id, thinking = _resolve_thinking(snap, group, rest)
        if public_id is not None and snap.models[public_id].vendor != vendor:
            public_id = None
        vendor_id = f"{vendor}/{public_id}" if public_id else None
    if public_id is None:
        raise error("E18", f"The model `{model_id}` does not exist or you do not have access to it")
    model = snap.models[public_id]
    channels = snap.routes.get((group.id, public_id), ())
    if vendor_id is not None:
        routed = tuple(c for c in channels if c.platform == "openrouter")
        if not routed:
            native = VENDOR_PLATFORM.get(model.vendor)
            routed = tuple(c for c in channels if c.platform == native)
            vendor_id = None  # sent without the prefix on native channels
        channels = routed
    return Admission(key, ka.user, group, model, channels, thinking, vendor_id)


def check_subscription(snap: Snapshot, adm: Admission, now: float) -> SubscriptionRec | None:
    """Step 9 (R7.7): a subscription group needs an active, unexpired subscription."""
    if adm.group.billing_type != "subscription":
        return None
    sub = snap.subscriptions.get((adm.user.id, adm.group.id))
    if sub is None:
        raise error("E9")
    if sub.state != "active" or sub.expires_at <= now or sub.starts_at > now:
        raise error("E10")
    return sub


def _resolve_thinking(snap: Snapshot, group: GroupRec, model_id: str) -> tuple[str | None, bool]:
    """Rules 1–2 of R6.1: the literal id, else `X-thinking` for a thinking-capable X."""
    if model_id in group.catalog_set:
        return model_id, False
    if model_id.endswith("-thinking"):
        base = model_id.removesuffix("-thinking")
        if base in group.catalog_set:
            if snap.models[base].supports_thinking:
                return base, True
            raise error(
                "E18", f"The model `{model_id}` does not exist or you do not have access to it"
            )
    return None, False
