"""The usage row: one request's record as the settlement builds it, the recorder queues it, the
journal stores it and the batched writer inserts it (SPEC R11.1). A leaf: types only."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

__all__ = ["RequestOutcome", "UsageRow"]

# How a request ended (R11.1): the `outcome` column, its filters and the gateway's context.
RequestOutcome = Literal[
    "success", "partial", "client_cancelled", "upstream_error", "failed", "refused", "test"
]


class UsageRow(TypedDict):
    """One `usage_log` row as the recorder queues it, the journal stores it and the batched
    writer inserts it (`created_at` in unix seconds until the writer converts it)."""

    admission_id: str
    created_at: float
    request_id: str
    upstream_request_id: str | None
    user_id: int | None
    key_id: int | None
    key_name: str | None
    group_id: int | None
    model_requested: str | None
    model_upstream: str | None
    endpoint: str
    stream: bool
    status: int
    outcome: RequestOutcome
    error_code: str | None
    channel_id: int | None
    attempts: int
    attempt_chain: list[dict[str, Any]]
    latency_ms: int
    ttft_ms: int | None
    input_tokens: int
    cache_read_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    output_tokens: int
    reasoning_tokens: int
    images: int
    audio_seconds: float
    characters: int
    cost_nusd: int
    estimated: bool
    client_ip: str | None
    user_agent: str
    estimate_nusd: int | None
    price_multiplier: str | None
    unit_prices: dict[str, str] | None
    debit_balance: bool
