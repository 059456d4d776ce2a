"""App webhooks: the backlog's index, and endpoints disabled by a 410.

Revision ID: 0002_app_webhooks
Revises: 0001_journal
Create Date: 2026-12-13
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_app_webhooks"
down_revision = "0001_journal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_app_events_pending_created",
        "app_events",
        ["created_at_us"],
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_table(
        "app_webhook_endpoints",
        sa.Column("endpoint", sa.String(64), primary_key=True),
        sa.Column("disabled_at_us", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.String(200)),
    )


def downgrade() -> None:
    op.drop_table("app_webhook_endpoints")
    op.drop_index("ix_app_events_pending_created", table_name="app_events")
