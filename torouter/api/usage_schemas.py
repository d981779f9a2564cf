"""Bodies of the usage views (SPEC R11.4, R11.6, R15.4), for users and for admins.

Users never see the channel, the client IP, the upstream's request id or the raw attempt chain
of a request (R11.4); admins see every R11.1 field. Nothing here can carry a prompt or a
completion: the usage log has none (R11.1).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from torouter.api.schemas import ApiModel, Timestamp, Usd

__all__ = [
    "AdminAttemptRead",
    "AttemptRead",
    "BillingLineRead",
    "BillingRead",
    "DailyPointRead",
    "DailyRead",
    "ModelRowRead",
    "MyUsageDetail",
    "MyUsageRead",
    "SummaryRead",
    "TimingsRead",
    "TokensRead",
    "UsageDetail",
    "UsageRead",
]


class MyUsageRead(ApiModel):
    """One request as metered, as its owner sees it (R11.4)."""

    id: int
    created_at: Timestamp
    request_id: str
    key_id: int | None
    key_name: str | None
    model_requested: str | None
    model_upstream: str | None
    endpoint: str | None
    stream: bool
    status: int
    outcome: str = Field(
        description="success | partial | client_cancelled | upstream_error | failed | refused "
        "| test"
    )
    error_code: str | None
    attempts: int = Field(description="Upstream attempts made (failover)")
    latency_ms: int | None
    ttft_ms: int | None = Field(description="Time to the first byte sent to the client")
    input_tokens: int
    cache_read_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    output_tokens: int
    reasoning_tokens: int = Field(description="Part of output_tokens")
    images: int
    audio_seconds: float
    characters: int
    cost_nusd: int
    cost_usd: Usd
    estimated: bool = Field(description="Billed on the estimate: the upstream sent no usage")
    user_agent: str | None


class UsageRead(MyUsageRead):
    """One request as metered (R11.1), for admins. Never prompts or completions."""

    upstream_request_id: str | None
    user_id: int | None
    group_id: int | None
    channel_id: int | None
    attempt_chain: list[Any]
    client_ip: str | None


class AttemptRead(ApiModel):
    number: int = Field(description="1 for the first upstream attempt, in the order made")
    status: int | None = Field(description="The upstream's HTTP status (0: no answer)")
    failure_class: str | None = Field(
        description="How the attempt ended: success, or the failure class that moved on"
    )
    latency_ms: int | None


class AdminAttemptRead(AttemptRead):
    channel_id: int | None
    channel_name: str | None


class TokensRead(ApiModel):
    input: int
    cache_read: int
    cache_write_5m: int
    cache_write_1h: int
    output: int
    reasoning: int = Field(description="Part of output")
    images: int
    audio_seconds: float
    characters: int


class BillingLineRead(ApiModel):
    kind: str = Field(
        description="input | cache_read | cache_write_5m | cache_write_1h | output | images | "
        "audio | characters | request"
    )
    quantity: str
    unit: str = Field(description="What the unit price is per: 1M tokens, image, minute, …")
    unit_price: str = Field(description="USD per unit, exact decimal")
    amount: str = Field(
        description="quantity × unit price in USD, exact decimal, before the multiplier"
    )


class BillingRead(ApiModel):
    charged: bool = Field(description="False for refusals and failures: they cost 0 (R10.6)")
    tokens: TokensRead
    unit_prices: dict[str, str] | None = Field(
        description="The model's unit prices at settlement (USD per 1M tokens, or per unit); "
        "null for rows settled before prices were kept"
    )
    multiplier: str | None = Field(description="The group's price multiplier at settlement")
    lines: list[BillingLineRead]
    subtotal: str | None = Field(
        description="Sum of the lines in USD (exact decimal), before the multiplier"
    )
    estimate_nusd: int | None = Field(description="Reserved at admission")
    estimate_usd: Usd | None = None
    settled_nusd: int = Field(description="Charged: subtotal × multiplier, rounded half-up once")
    settled_usd: Usd
    estimated: bool
    difference_nusd: int | None = Field(description="settled − estimate")
    difference_usd: Usd | None = None
    reconciles: bool | None = Field(
        description="The lines and multiplier give exactly the settled amount"
    )


class TimingsRead(ApiModel):
    started_at: Timestamp
    ended_at: Timestamp | None
    latency_ms: int | None
    ttft_ms: int | None


class MyUsageDetail(ApiModel):
    request: MyUsageRead
    attempts: list[AttemptRead]
    billing: BillingRead
    timings: TimingsRead


class UsageDetail(ApiModel):
    request: UsageRead
    user_email: str | None
    attempts: list[AdminAttemptRead]
    billing: BillingRead
    timings: TimingsRead


class ModelRowRead(ApiModel):
    model: str | None = Field(description="null on the totals row")
    requests: int
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int = Field(description="5-minute and 1-hour cache writes")
    cache_read_tokens: int
    reasoning_tokens: int
    cost_nusd: int
    cost_usd: Usd


class SummaryRead(ApiModel):
    start: dt.date
    end: dt.date
    cost_nusd: int
    cost_usd: Usd
    requests: int
    input_tokens: int
    output_tokens: int
    models: list[ModelRowRead] = Field(description="Per model, most spent first")
    totals: ModelRowRead
    source: str = Field(
        description="rollups (daily roll-ups), or log when the filters need the rows themselves"
    )


class DailyPointRead(ApiModel):
    date: dt.date
    requests: int
    cost_nusd: int
    cost_usd: Usd


class DailyRead(ApiModel):
    days: int
    data: list[DailyPointRead] = Field(description="Oldest first, one per day, zero-filled")
