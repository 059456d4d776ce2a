"""The session journal, the app-event outbox and per-day usage.

Revision ID: 0001_journal
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_journal"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voice_sessions",
        sa.Column("room_name", sa.String(256), primary_key=True),
        sa.Column("user_id", sa.String(512), nullable=False),
        sa.Column("agent_type", sa.String(32), nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("agent_joined_at_us", sa.BigInteger),
        sa.Column("ended_at_us", sa.BigInteger),
        sa.Column("end_reason", sa.String(32)),
        sa.Column("end_approximate", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("rejoins", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("dispatches", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("events_sent", sa.Integer, nullable=False, server_default=sa.text("0")),
    )
    op.create_index(
        "ix_voice_sessions_user_created", "voice_sessions", ["user_id", "created_at_us", "room_name"]
    )
    op.create_index(
        "ix_voice_sessions_live",
        "voice_sessions",
        ["created_at_us"],
        sqlite_where=sa.text("ended_at_us IS NULL"),
        postgresql_where=sa.text("ended_at_us IS NULL"),
    )
    op.create_index("ix_voice_sessions_ended", "voice_sessions", ["ended_at_us"])
    op.create_table(
        "app_events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("room_name", sa.String(256), nullable=False),
        sa.Column("user_id", sa.String(512), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at_us", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.String(200)),
        sa.Column("delivered_at_us", sa.BigInteger),
    )
    op.create_index("ix_app_events_session_sequence", "app_events", ["room_name", "sequence"], unique=True)
    op.create_index("ix_app_events_due", "app_events", ["state", "next_attempt_at_us"])
    op.create_index("ix_app_events_user", "app_events", ["user_id"])
    op.create_table(
        "usage_days",
        sa.Column("user_id", sa.String(512), primary_key=True),
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("used_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("usage_days")
    op.drop_table("app_events")
    op.drop_table("voice_sessions")
