"""Usage analytics: roll-ups, the billing snapshot of a request, indexes, low-balance notice

Revision ID: 0003
Revises: 0002

- `usage_daily` is rebuilt with success/failure counts, every token kind and latency/TTFT
  histograms (nothing wrote the old table); `usage_hourly` (last 48 h) and
  `usage_daily_channel` (admin filters by channel, outcome and status) are new.
- `usage_logs` keeps what a request was billed at (estimate, multiplier, unit prices) and gets
  the keyset indexes of the usage views; the plain `user_id` and `created_at` indexes are
  replaced by (…, created_at, id) ones.
- `users` gets the low-balance threshold and its notice state; `daily_jobs` records the day
  each once-a-day job last ran.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BUCKETS = 24  # frozen here: the bucket bounds are part of the stored data


def _measures() -> list[sa.Column[int]]:
    names = [
        "requests",
        "successes",
        "failures",
        "refused",
        "input_tokens",
        "cache_read_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
        "output_tokens",
        "reasoning_tokens",
        "cost_nusd",
    ]
    cols = [sa.Column(n, sa.BigInteger(), nullable=False) for n in names]
    for kind in ("latency", "ttft"):
        cols += [
            sa.Column(f"{kind}_b{i:02d}", sa.Integer(), nullable=False) for i in range(_BUCKETS)
        ]
    return cols


def upgrade() -> None:
    op.drop_table("usage_daily")
    op.create_table(
        "usage_daily",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        *_measures(),
        sa.PrimaryKeyConstraint("day", "user_id", "key_id", "model", name=op.f("pk_usage_daily")),
    )
    op.create_index("ix_usage_daily_user_day", "usage_daily", ["user_id", "day"])
    op.create_index("ix_usage_daily_key_day", "usage_daily", ["key_id", "day"])
    op.create_table(
        "usage_hourly",
        sa.Column("hour", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        *_measures(),
        sa.PrimaryKeyConstraint("hour", "user_id", "key_id", "model", name=op.f("pk_usage_hourly")),
    )
    op.create_index("ix_usage_hourly_user_hour", "usage_hourly", ["user_id", "hour"])
    op.create_index("ix_usage_hourly_key_hour", "usage_hourly", ["key_id", "hour"])
    op.create_table(
        "usage_daily_channel",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_5m_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_1h_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_nusd", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "model", "channel_id", "outcome", "status", name=op.f("pk_usage_daily_channel")
        ),
    )
    op.create_table(
        "daily_jobs",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("last_day", sa.String(length=10), nullable=False),
        sa.Column("last_run_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_daily_jobs")),
    )

    op.add_column("usage_logs", sa.Column("estimate_nusd", sa.BigInteger(), nullable=True))
    op.add_column("usage_logs", sa.Column("price_multiplier", sa.String(length=40), nullable=True))
    op.add_column("usage_logs", sa.Column("unit_prices", sa.JSON(), nullable=True))
    op.drop_index("ix_usage_logs_created", table_name="usage_logs")
    op.drop_index("ix_usage_logs_user_created", table_name="usage_logs")
    op.drop_index("ix_usage_logs_user_id", table_name="usage_logs")
    op.create_index("ix_usage_logs_created_id", "usage_logs", ["created_at", "id"])
    op.create_index("ix_usage_logs_user_created_id", "usage_logs", ["user_id", "created_at", "id"])
    # Covering a key's window sums (api/windows.py): key, time, id, then outcome and cost.
    op.create_index(
        "ix_usage_logs_key_created_id",
        "usage_logs",
        ["key_id", "created_at", "id", "outcome", "cost_nusd"],
    )
    op.create_index(
        "ix_usage_logs_request_id", "usage_logs", ["request_id", "user_id", "created_at", "id"]
    )
    # A key's log filtered by outcome (the usage page's failures of one key): PostgreSQL ANDed
    # the user and key bitmaps and read every row of a busy key (p95 132 ms, up to 2 s at 1M).
    op.create_index(
        "ix_usage_logs_key_outcome_created_id",
        "usage_logs",
        ["key_id", "outcome", "created_at", "id"],
    )
    # Covering a subscription's window sums (api/windows.py `subscription_use`).
    op.create_index(
        "ix_usage_logs_user_group_created",
        "usage_logs",
        ["user_id", "group_id", "created_at", "cost_nusd"],
    )

    op.create_index("ix_ledger_user_created_id", "ledger", ["user_id", "created_at", "id"])

    op.add_column("users", sa.Column("low_balance_threshold_nusd", sa.BigInteger(), nullable=True))
    op.add_column(
        "users", sa.Column("low_balance_notified_at", sa.String(length=32), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("low_balance_notified_at")
        batch.drop_column("low_balance_threshold_nusd")
    op.drop_index("ix_ledger_user_created_id", table_name="ledger")
    for name in (
        "ix_usage_logs_user_group_created",
        "ix_usage_logs_request_id",
        "ix_usage_logs_key_outcome_created_id",
        "ix_usage_logs_key_created_id",
        "ix_usage_logs_user_created_id",
        "ix_usage_logs_created_id",
    ):
        op.drop_index(name, table_name="usage_logs")
    op.create_index("ix_usage_logs_user_id", "usage_logs", ["user_id"])
    op.create_index("ix_usage_logs_user_created", "usage_logs", ["user_id", "created_at"])
    op.create_index("ix_usage_logs_created", "usage_logs", ["created_at"])
    with op.batch_alter_table("usage_logs") as batch:
        batch.drop_column("unit_prices")
        batch.drop_column("price_multiplier")
        batch.drop_column("estimate_nusd")
    op.drop_table("daily_jobs")
    op.drop_table("usage_daily_channel")
    op.drop_table("usage_hourly")
    op.drop_table("usage_daily")
    op.create_table(
        "usage_daily",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_nusd", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "user_id", "key_id", "model", name=op.f("pk_usage_daily")),
    )
