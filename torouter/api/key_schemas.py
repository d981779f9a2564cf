"""Bodies and answers for API keys (R7.2, R7.3, R7.4, §13) and group default key limits.

Limits: null (or "") inherits the group's default, 0 turns the limit off. Money goes in as
USD (`quota_usd`, `budget_*_usd`) and comes out as nUSD with the USD string beside it. The
key itself appears once, in `KeyCreated.key`; no read model carries its hash.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field

from torouter.api.fields import (
    Id,
    IpList,
    ModelList,
    Name,
    OptCount,
    OptMoney,
    ip_lines,
    nusd,
)
from torouter.api.schemas import ApiModel, InputModel, Timestamp, Usd
from torouter.api.windows import KeyStats
from torouter.errors import error
from torouter.records import Row

__all__ = [
    "AdminKeyCreate",
    "KeyCreate",
    "KeyCreated",
    "KeyDetail",
    "KeyLimitsIn",
    "KeyLimitsRead",
    "KeyRead",
    "KeyUpdate",
    "key_columns",
    "split_list",
]

_COUNTS = ("requests_5h", "requests_1d", "requests_7d", "rpm", "tpm", "max_concurrency")
_MONEY = {
    "quota_usd": "quota_nusd",
    "budget_daily_usd": "budget_daily_nusd",
    "budget_weekly_usd": "budget_weekly_nusd",
    "budget_monthly_usd": "budget_monthly_nusd",
}
MAX_DAYS = 36_500


def split_list(text: str | None) -> list[str]:
    """A stored IP list (lines) or model whitelist (commas) as a list."""
    return [p.strip() for p in (text or "").replace("\n", ",").split(",") if p.strip()]


class KeyLimitsIn(InputModel):
    """A group's default key limits (R7.6): what a key's null limit inherits."""

    quota_usd: OptMoney = Field(None, description="Spend cap in USD; 0 = no cap")
    requests_5h: OptCount = None
    requests_1d: OptCount = None
    requests_7d: OptCount = None
    rpm: OptCount = None
    tpm: OptCount = None
    max_concurrency: OptCount = None
    budget_daily_usd: OptMoney = None
    budget_weekly_usd: OptMoney = None
    budget_monthly_usd: OptMoney = None

    def columns(self) -> dict[str, int]:
        """Stored under the `api_keys` column names; unset limits are left out."""
        out: dict[str, int] = {}
        for name in _COUNTS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        for field, column in _MONEY.items():
            amount = nusd(getattr(self, field))
            if amount is not None:
                out[column] = amount
        return out


class KeyLimitsRead(ApiModel):
    quota_nusd: int | None = None
    quota_usd: Usd | None = None
    requests_5h: int | None = None
    requests_1d: int | None = None
    requests_7d: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    budget_daily_nusd: int | None = None
    budget_daily_usd: Usd | None = None
    budget_weekly_nusd: int | None = None
    budget_weekly_usd: Usd | None = None
    budget_monthly_nusd: int | None = None
    budget_monthly_usd: Usd | None = None


Days = Annotated[int, Field(ge=0, le=MAX_DAYS)]


class _KeyFields(InputModel):
    group_id: Id | None = Field(None, description="The key's group (or `group`, by name)")
    group: Name | None = Field(None, description="The key's group by name")
    quota_usd: OptMoney = Field(None, description="Spend cap in USD; 0 = no cap; null inherits")
    expires_in_days: Days | None = Field(
        None, description="Expires this many days from now; 0 = never (or give `expires_at`)"
    )
    expires_at: AwareDatetime | None = Field(None, description="RFC 3339; null = never")
    requests_5h: OptCount = None
    requests_1d: OptCount = None
    requests_7d: OptCount = None
    rpm: OptCount = None
    tpm: OptCount = None
    max_concurrency: OptCount = Field(None, description="Requests in flight; 0 = off")
    budget_daily_usd: OptMoney = None
    budget_weekly_usd: OptMoney = None
    budget_monthly_usd: OptMoney = None
    ip_whitelist: IpList = Field(default_factory=list)
    ip_blacklist: IpList = Field(default_factory=list)
    model_whitelist: ModelList = Field(default_factory=list)


class KeyCreate(_KeyFields):
    """A new key. `group_id` or `group` is required; limits left out inherit the group's."""

    name: Name
    status: Literal["active", "disabled"] = "active"


class AdminKeyCreate(KeyCreate):
    user_id: Id = Field(description="The account that will own the key")


class KeyUpdate(_KeyFields):
    """Only the fields sent change. A limit sent as null or "" inherits the group's default
    again, 0 turns it off; an empty IP or model list removes the list."""

    name: Name | None = None
    status: Literal["active", "disabled"] | None = None


def key_columns(body: _KeyFields, fields: set[str], now: dt.datetime) -> dict[str, Any]:
    """The `api_keys` columns for the fields sent (not the group, resolved by the caller)."""
    out: dict[str, Any] = {}
    for name in ("name", "status"):
        if name in fields:
            value = getattr(body, name)
            if value is None:
                raise error("E16", f"{name}: must not be null", param=name)
            out[name] = value
    for name in _COUNTS:
        if name in fields:
            out[name] = getattr(body, name)
    for field, column in _MONEY.items():
        if field in fields:
            out[column] = nusd(getattr(body, field))
    for name in ("ip_whitelist", "ip_blacklist"):
        if name in fields:
            out[name] = ip_lines(getattr(body, name))
    if "model_whitelist" in fields:
        out["model_whitelist"] = ",".join(body.model_whitelist)
    if "expires_in_days" in fields and "expires_at" in fields:
        raise error(
            "E16", "expires_at: give expires_in_days or expires_at, not both", param="expires_at"
        )
    if "expires_in_days" in fields:
        days = body.expires_in_days
        out["expires_at"] = now + dt.timedelta(days=days) if days else None
    if "expires_at" in fields:
        if body.expires_at is not None and body.expires_at <= now:
            raise error("E16", "expires_at: must be in the future", param="expires_at")
        out["expires_at"] = body.expires_at
    return out


class KeyRead(ApiModel):
    """A key as listed (R13.2): masked, with its limits, spend and last use."""

    id: int
    user_id: int
    group_id: int
    group: str | None = Field(description="The group's name")
    name: str
    mask: str
    status: str
    quota_nusd: int | None
    quota_usd: Usd | None
    expires_at: Timestamp | None
    requests_5h: int | None
    requests_1d: int | None
    requests_7d: int | None
    rpm: int | None
    tpm: int | None
    max_concurrency: int | None
    budget_daily_nusd: int | None
    budget_daily_usd: Usd | None
    budget_weekly_nusd: int | None
    budget_weekly_usd: Usd | None
    budget_monthly_nusd: int | None
    budget_monthly_usd: Usd | None
    ip_whitelist: list[str]
    ip_blacklist: list[str]
    model_whitelist: list[str]
    spend_nusd: int = Field(description="Total spend")
    spend_usd: Usd
    spend_today_nusd: int = Field(0, description="Since 00:00 in the deployment timezone")
    spend_today_usd: Usd = "0.000000000"
    spend_30d_nusd: int = Field(0, description="Over the last 30 days")
    spend_30d_usd: Usd = "0.000000000"
    requests_today: int = 0
    last_used_at: Timestamp | None
    last_used_ip: str | None
    deleted_at: Timestamp | None
    managed: bool = Field(description="Declared in the config file: read-only")
    created_at: Timestamp

    @classmethod
    def build(cls, row: Row, stats: KeyStats | None = None) -> KeyRead:
        lists = {f: split_list(row[f]) for f in ("ip_whitelist", "ip_blacklist", "model_whitelist")}
        s = stats or KeyStats()
        return cls.from_row(
            row,
            **lists,
            group=row.get("group"),
            spend_today_nusd=s.spend_today_nusd,
            spend_30d_nusd=s.spend_30d_nusd,
            requests_today=s.requests_today,
        )


class WindowUse(ApiModel):
    """Requests in the key's rolling windows, from the usage log (settled requests)."""

    requests_5h: int
    requests_1d: int
    requests_7d: int


class KeyDetail(KeyRead):
    window_use: WindowUse
    live: dict[str, Any] | None = Field(
        None,
        description="The gateway's live view, as `GET /v1/key` shows it: effective limits "
        "(group defaults applied), request-window use, budget and subscription windows, "
        "balance and the effective limit, in nUSD and unix seconds; null until the gateway "
        "has loaded the key",
    )


class KeyCreated(KeyRead):
    key: str = Field(description="The full key: shown this once, never again")
