"""Payments: order fields for the Stripe lifecycle, refunds and subscriptions; event outcomes

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _order_columns() -> tuple[sa.Column[object], ...]:
    # A function, not a module constant: the start-up check reads this file's constants.
    return (
        sa.Column("currency", sa.String(length=3), nullable=False, server_default="usd"),
        sa.Column("stripe_payment_intent", sa.String(length=200), nullable=True),
        sa.Column("subscription_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("refund_requested_at", sa.String(length=32), nullable=True),
        sa.Column("refund_started_at", sa.String(length=32), nullable=True),
        sa.Column("refund_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("stripe_refund_id", sa.String(length=200), nullable=True),
        sa.Column("refunded_at", sa.String(length=32), nullable=True),
    )


def upgrade() -> None:
    for column in _order_columns():
        op.add_column("orders", column)
    op.create_index("ix_orders_stripe_session_id", "orders", ["stripe_session_id"], unique=True)
    op.create_index("ix_orders_status_created", "orders", ["status", "created_at"])
    op.add_column("stripe_events", sa.Column("order_id", sa.String(length=40), nullable=True))
    op.add_column("stripe_events", sa.Column("outcome", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stripe_events") as batch:
        batch.drop_column("outcome")
        batch.drop_column("order_id")
    op.drop_index("ix_orders_status_created", table_name="orders")
    op.drop_index("ix_orders_stripe_session_id", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        for column in reversed(_order_columns()):
            batch.drop_column(column.name)
