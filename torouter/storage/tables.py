"""The schema, for SQLite and PostgreSQL alike (R1.6): SQLAlchemy Core tables.

Money is BIGINT nano-USD everywhere (`*_nusd`); prices are exact decimals stored as text
(`DecimalText`), USD per 1M tokens or per unit; times are timezone-aware UTC (`UTCDateTime`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

__all__ = ["metadata"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on both databases (SQLite keeps naive values)."""

    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        # Fixed-width ISO text sorts chronologically on both databases:
        # 2026-01-02T03:04:05.000000Z (the same text as strftime("%Y-%m-%dT%H:%M:%S.%fZ")).
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")[:-6] + "Z"

    def process_result_value(self, value: str | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


class DecimalText(TypeDecorator[Decimal]):
    """Exact decimals (prices, multipliers) stored as text: no float rounding anywhere."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return format(Decimal(str(value)), "f")

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


def _created() -> Column[Any]:
    return Column("created_at", UTCDateTime, nullable=False)


def _managed() -> Column[Any]:
    # Declared in the config file (R17.10): read-only in the console and API.
    return Column("managed", Boolean, nullable=False, default=False)


NUSD = BigInteger

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("username", String(100)),
    Column("password_hash", String(200)),
    Column("role", String(10), nullable=False, default="user"),  # user | admin
    # unverified | active | suspended | deleted (R12.7)
    Column("state", String(12), nullable=False, default="unverified"),
    Column("email_verified_at", UTCDateTime),
    Column("balance_nusd", NUSD, nullable=False, default=0),  # running total of the ledger
    Column("language", String(10)),
    Column("display_currency", String(3)),
    Column("totp_secret_enc", Text),
    Column("totp_enabled", Boolean, nullable=False, default=False),
    Column("totp_last_step", BigInteger),
    # Low-balance notice (R15.4): the threshold (None: off), and when the one mail for the
    # current dip below it went out (None: armed; cleared once the balance is back above).
    Column("low_balance_threshold_nusd", NUSD),
    Column("low_balance_notified_at", UTCDateTime),
    _managed(),
    _created(),
    Column("updated_at", UTCDateTime),
)

groups = Table(
    "groups",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("description", Text),
    Column("billing_type", String(12), nullable=False, default="balance"),
    Column("price_multiplier", DecimalText, nullable=False, default=Decimal(1)),
    Column("visibility", String(8), nullable=False, default="public"),  # public | private
    Column("status", String(8), nullable=False, default="enabled"),
    Column("default_key_limits", JSON, nullable=False, default=dict),
    _managed(),
    _created(),
)

models = Table(
    "models",
    metadata,
    Column("id", String(200), primary_key=True),  # the public id
    Column("display_name", String(200)),
    Column("vendor", String(50), nullable=False, default="openai"),
    Column("modality", String(12), nullable=False, default="text"),
    Column("endpoints", JSON, nullable=False, default=list),
    Column("context_length", Integer),
    Column("max_output_tokens", Integer),
    Column("supports_thinking", Boolean, nullable=False, default=False),
    Column("thinking_defaults", JSON, nullable=False, default=dict),
    Column("price_input", DecimalText),
    Column("price_output", DecimalText),
    Column("price_cache_read", DecimalText),
    Column("price_cache_write_5m", DecimalText),
    Column("price_cache_write_1h", DecimalText),
    Column("price_per_request", DecimalText),
    Column("price_per_image", DecimalText),
    Column("price_per_audio_minute", DecimalText),
    Column("price_per_1m_characters", DecimalText),
    Column("owned_by", String(100)),
    Column("created", BigInteger),  # unix seconds shown in model lists
    Column("enabled", Boolean, nullable=False, default=True),
    Column("sort_order", Integer, nullable=False, default=0),
    _managed(),
)

group_models = Table(  # the ordered catalog of a group
    "group_models",
    metadata,
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("model_id", ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, nullable=False, default=0),
)

group_grants = Table(  # users granted a private group
    "group_grants",
    metadata,
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)

channels = Table(
    "channels",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("platform", String(20), nullable=False),
    Column("base_url", String(500)),
    Column("credential_enc", Text),  # AES-256-GCM, key id inside (R18.2)
    Column("models", JSON, nullable=False, default=list),
    Column("model_mapping", JSON, nullable=False, default=dict),
    Column("priority", Integer, nullable=False, default=0),
    Column("weight", Integer, nullable=False, default=1),
    Column("connect_timeout", Float, nullable=False, default=10.0),
    Column("first_byte_timeout", Float, nullable=False, default=300.0),
    Column("stream_idle_timeout", Float, nullable=False, default=300.0),
    Column("proxy_enc", Text),  # R9.1 egress proxy URL, encrypted like the credential (R18.2)
    Column("auto_disable", Boolean, nullable=False, default=True),
    Column("status", String(14), nullable=False, default="enabled"),
    Column("status_reason", Text),
    Column("status_since", UTCDateTime),
    Column("test_model", String(200)),
    Column("options", JSON, nullable=False, default=dict),  # responses_native, extra_headers…
    Column("endpoints", JSON),  # None: all the platform can serve
    Column("max_concurrency", Integer, nullable=False, default=0),
    _managed(),
    _created(),
    Column("updated_at", UTCDateTime),
)

channel_groups = Table(
    "channel_groups",
    metadata,
    Column("channel_id", ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("group_id", ForeignKey("groups.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),  # SHA-256 hex
    Column("mask", String(20), nullable=False),
    Column("status", String(10), nullable=False, default="active"),
    Column("quota_nusd", NUSD),  # None inherits the group default; 0 = no cap
    Column("expires_at", UTCDateTime),
    Column("requests_5h", Integer),
    Column("requests_1d", Integer),
    Column("requests_7d", Integer),
    Column("rpm", Integer),
    Column("tpm", Integer),
    Column("max_concurrency", Integer),
    Column("budget_daily_nusd", NUSD),
    Column("budget_weekly_nusd", NUSD),
    Column("budget_monthly_nusd", NUSD),
    Column("ip_whitelist", Text, nullable=False, default=""),
    Column("ip_blacklist", Text, nullable=False, default=""),
    Column("model_whitelist", Text, nullable=False, default=""),
    Column("spend_nusd", NUSD, nullable=False, default=0),
    Column("last_used_at", UTCDateTime),
    Column("last_used_ip", String(45)),
    Column("deleted_at", UTCDateTime),
    _managed(),
    _created(),
)

plans = Table(
    "plans",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("group_id", ForeignKey("groups.id"), nullable=False),
    Column("price_nusd", NUSD, nullable=False, default=0),
    Column("duration_days", Integer, nullable=False, default=30),
    Column("daily_cap_nusd", NUSD, nullable=False, default=0),
    Column("weekly_cap_nusd", NUSD, nullable=False, default=0),
    Column("monthly_cap_nusd", NUSD, nullable=False, default=0),
    Column("max_per_user", Integer, nullable=False, default=0),
    Column("enabled", Boolean, nullable=False, default=True),
    _managed(),
    _created(),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("group_id", ForeignKey("groups.id"), nullable=False),
    Column("plan_id", ForeignKey("plans.id")),
    Column("daily_cap_nusd", NUSD, nullable=False, default=0),
    Column("weekly_cap_nusd", NUSD, nullable=False, default=0),
    Column("monthly_cap_nusd", NUSD, nullable=False, default=0),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("auto_renew", Boolean, nullable=False, default=False),
    Column("state", String(10), nullable=False, default="active"),
    Column("purchases", Integer, nullable=False, default=1),
    _managed(),
    _created(),
    UniqueConstraint("user_id", "group_id"),
)

ledger = Table(
    "ledger",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("amount_nusd", NUSD, nullable=False),  # signed
    # topup | admin_credit | admin_debit | usage | subscription_purchase | refund | refund_reversal
    Column("reason", String(24), nullable=False),
    Column("reference", String(100)),
    Column("actor", String(100)),
    Column("note", Text),
    Column("balance_after_nusd", NUSD, nullable=False),
    _created(),
    UniqueConstraint("reason", "reference", name="uq_ledger_reason_reference"),
    # The money timeline (newest first) and the runway's 7-day burn (R15.4).
    Index("ix_ledger_user_created_id", "user_id", "created_at", "id"),
)

usage_logs = Table(
    "usage_logs",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    # Server-generated; the idempotency key of settlement and journal replay (R11.2).
    Column("admission_id", String(40), nullable=False, unique=True),
    _created(),
    Column("request_id", String(128), nullable=False),
    Column("upstream_request_id", String(200)),
    Column("user_id", Integer),
    Column("key_id", Integer),
    Column("key_name", String(100)),
    Column("group_id", Integer),
    Column("model_requested", String(200)),
    Column("model_upstream", String(200)),
    Column("endpoint", String(40)),
    Column("stream", Boolean, nullable=False, default=False),
    Column("status", Integer, nullable=False),
    # success | partial | client_cancelled | upstream_error | failed | refused | test
    Column("outcome", String(20), nullable=False),
    Column("error_code", String(60)),
    Column("channel_id", Integer),
    Column("attempts", Integer, nullable=False, default=0),
    Column("attempt_chain", JSON, nullable=False, default=list),
    Column("latency_ms", Integer),
    Column("ttft_ms", Integer),
    Column("input_tokens", BigInteger, nullable=False, default=0),
    Column("cache_read_tokens", BigInteger, nullable=False, default=0),
    Column("cache_write_5m_tokens", BigInteger, nullable=False, default=0),
    Column("cache_write_1h_tokens", BigInteger, nullable=False, default=0),
    Column("output_tokens", BigInteger, nullable=False, default=0),
    Column("reasoning_tokens", BigInteger, nullable=False, default=0),
    Column("images", Integer, nullable=False, default=0),
    Column("audio_seconds", Float, nullable=False, default=0.0),
    Column("characters", BigInteger, nullable=False, default=0),
    Column("cost_nusd", NUSD, nullable=False, default=0),
    Column("estimated", Boolean, nullable=False, default=False),
    Column("client_ip", String(45)),
    Column("user_agent", String(200)),
    # What the request was billed at (R15.4 request detail): the estimate reserved at
    # admission, the group multiplier and the model's effective unit prices at settlement
    # (decimal strings; USD per 1M tokens or per unit; absent kinds cost 0).
    Column("estimate_nusd", NUSD),
    Column("price_multiplier", DecimalText),
    Column("unit_prices", JSON),
    # Keyset reads walk (created_at, id) newest first or, for exports, oldest first (R11.5).
    # Every index costs the writer (R11.2) on every row: the admin-only filters (channel,
    # model, status, outcome) walk the time index and are answered as soon as a page fills.
    Index("ix_usage_logs_created_id", "created_at", "id"),
    Index("ix_usage_logs_user_created_id", "user_id", "created_at", "id"),
    # A key's index also covers its window sums (api/windows.py: outcome and cost of the
    # part of a window before its first whole roll-up day or hour).
    Index("ix_usage_logs_key_created_id", "key_id", "created_at", "id", "outcome", "cost_nusd"),
    # Search by request id (R15.4); with the user and the order, so that SQLite picks it over
    # the user's index even without statistics (ANALYZE) when a user searches.
    Index("ix_usage_logs_request_id", "request_id", "user_id", "created_at", "id"),
    # A key's log filtered by outcome, newest first (the usage page's failures of one key).
    Index("ix_usage_logs_key_outcome_created_id", "key_id", "outcome", "created_at", "id"),
    # A subscription's spend in its day, week and month (api/windows.py), from the index alone.
    Index("ix_usage_logs_user_group_created", "user_id", "group_id", "created_at", "cost_nusd"),
)

# Roll-ups (R11.3), written by the usage writer in the transaction of the rows they count and
# kept past retention. Days are `YYYY-MM-DD` and hours the UTC instant their local hour starts,
# both in the deployment timezone. A missing user or key is 0, a missing model "".
ROLLUP_BUCKETS = 24  # torouter/usage/histogram.py's BUCKETS (pinned by a test)


TOKEN_COLUMNS = (  # the token kinds of a usage row (R11.1), summed by every roll-up
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
)


def _rollup_measures() -> list[Column[Any]]:
    counts = ("requests", "successes", "failures", "refused")
    cols = [Column(n, BigInteger, nullable=False, default=0) for n in (*counts, *TOKEN_COLUMNS)]
    cols.append(Column("cost_nusd", NUSD, nullable=False, default=0))
    # Log-spaced bucket counters of successful requests' latency and time to first byte.
    for kind in ("latency", "ttft"):
        cols += [
            Column(f"{kind}_b{i:02d}", Integer, nullable=False, default=0)
            for i in range(ROLLUP_BUCKETS)
        ]
    return cols


usage_daily = Table(
    "usage_daily",
    metadata,
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD, deployment timezone
    Column("user_id", Integer, primary_key=True),
    Column("key_id", Integer, primary_key=True),
    Column("model", String(200), primary_key=True),
    *_rollup_measures(),
    Index("ix_usage_daily_user_day", "user_id", "day"),
    Index("ix_usage_daily_key_day", "key_id", "day"),
)

usage_hourly = Table(  # the last 48 hours only: older hours are pruned by the retention job
    "usage_hourly",
    metadata,
    Column("hour", UTCDateTime, primary_key=True),  # UTC start of the local hour
    Column("user_id", Integer, primary_key=True),
    Column("key_id", Integer, primary_key=True),
    Column("model", String(200), primary_key=True),
    *_rollup_measures(),
    Index("ix_usage_hourly_user_hour", "user_id", "hour"),
    Index("ix_usage_hourly_key_hour", "key_id", "hour"),
)

usage_daily_channel = Table(  # the admin views' filters that are not user or key (R11.4)
    "usage_daily_channel",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("channel_id", Integer, primary_key=True),  # 0: none (refused before routing)
    Column("outcome", String(20), primary_key=True),
    Column("status", Integer, primary_key=True),
    Column("requests", BigInteger, nullable=False, default=0),
    *[Column(n, BigInteger, nullable=False, default=0) for n in TOKEN_COLUMNS],
    Column("cost_nusd", NUSD, nullable=False, default=0),
)

daily_jobs = Table(  # when a once-a-day job last ran, so that only one node runs it each day
    "daily_jobs",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("last_day", String(10), nullable=False),  # YYYY-MM-DD, deployment timezone
    Column("last_run_at", UTCDateTime, nullable=False),
)

orders = Table(  # R14.4
    "orders",
    metadata,
    Column("id", String(40), primary_key=True),  # ord_ + ULID
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("kind", String(12), nullable=False),  # topup | subscription
    Column("plan_id", ForeignKey("plans.id")),
    Column("amount_nusd", NUSD, nullable=False),
    Column("currency", String(3), nullable=False, default="usd", server_default="usd"),
    Column("method", String(8), nullable=False),  # stripe | balance
    # pending | paid | failed | cancelled | expired | refund_requested | refunded |
    # refund_rejected
    Column("status", String(18), nullable=False, default="pending"),
    Column("stripe_session_id", String(200)),
    Column("stripe_session_url", Text),
    Column("session_expires_at", UTCDateTime),
    Column("stripe_payment_intent", String(200)),
    Column("receipt_url", Text),
    Column("subscription_id", Integer),  # kind subscription: the subscription it bought
    Column("note", Text),  # why the order ended as it did, when that is not obvious
    Column("refund_amount_nusd", NUSD),
    Column("refund_reason", Text),
    Column("refund_note", Text),
    Column("refund_error", Text),
    Column("refund_requested_at", UTCDateTime),
    # One approval at a time: set while a refund is being sent to Stripe (a claim).
    Column("refund_started_at", UTCDateTime),
    Column("refund_attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("stripe_refund_id", String(200)),
    Column("refunded_at", UTCDateTime),
    _created(),
    Column("paid_at", UTCDateTime),
    Column("updated_at", UTCDateTime),
    # One Checkout Session pays one order, never two.
    Index("ix_orders_stripe_session_id", "stripe_session_id", unique=True),
    Index("ix_orders_status_created", "status", "created_at"),
)

stripe_events = Table(  # every verified webhook event, once (R14.3)
    "stripe_events",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("type", String(100), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("order_id", String(40)),
    # credited | already | mismatch | unknown_order | expired | failed | ignored
    Column("outcome", String(20)),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    _created(),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("ip", String(45)),
    Column("user_agent", String(200)),
    Column("revoked_at", UTCDateTime),
)

email_tokens = Table(  # verification, reset and TOTP-enable codes, stored hashed
    "email_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(12), nullable=False),  # verify | reset | totp_enable
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("tries", Integer, nullable=False, default=0),
    _created(),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("code_hash", String(64), nullable=False),
    Column("used_at", UTCDateTime),
)

admin_tokens = Table(
    "admin_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("mask", String(20), nullable=False),
    Column("user_id", ForeignKey("users.id")),
    _created(),
    Column("last_used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
)

settings_kv = Table(  # admin-editable settings (R17.5)
    "settings",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", JSON),
    Column("updated_at", UTCDateTime),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("actor", String(320), index=True),  # the audit page filters by actor and target
    Column("action", String(100), nullable=False, index=True),
    Column("target", String(200), index=True),
    Column("detail", JSON),
    _created(),
)

response_routes = Table(  # Responses id → channel, for previous_response_id (R3.3)
    "response_routes",
    metadata,
    Column("response_id", String(200), primary_key=True),
    Column("channel_id", Integer, nullable=False),
    _created(),
)

nodes = Table(  # one row per serving process, refreshed by its heartbeat (operations page)
    "nodes",
    metadata,
    Column("id", String(100), primary_key=True),  # hostname-pid-ULID, new at every start
    Column("hostname", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("version", String(40), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime),  # a clean shutdown; a crash leaves it null
    Column("usage_queue_depth", Integer, nullable=False, default=0),
    Column("info", JSON, nullable=False, default=dict),  # database kind, Redis or not…
)

job_runs = Table(  # the last run of each background job (operations page)
    "job_runs",
    metadata,
    Column("name", String(60), primary_key=True),
    Column("node", String(100), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("detail", Text),
    Column("runs", BigInteger, nullable=False, default=0),
    Column("failures", BigInteger, nullable=False, default=0),
    Column("last_failure_at", UTCDateTime),
)
