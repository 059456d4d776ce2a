"""The journal's tables, in SQLAlchemy Core: what Alembic's migrations build and the journal reads.

Times are integer microseconds since 1970 (``*_us``): exact, ordered and compared the
same way on SQLite and PostgreSQL, whatever either does with time zones.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text, false, text

METADATA = MetaData()

SESSIONS = Table(
    "voice_sessions",
    METADATA,
    Column("room_name", String(256), primary_key=True),
    Column("user_id", String(512), nullable=False),
    Column("agent_type", String(32), nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    Column("agent_joined_at_us", BigInteger),
    Column("ended_at_us", BigInteger),
    Column("end_reason", String(32)),
    Column("end_approximate", Boolean, nullable=False, server_default=false()),
    Column("rejoins", Integer, nullable=False, server_default=text("0")),
    Column("dispatches", Integer, nullable=False, server_default=text("0")),
    Column("events_sent", Integer, nullable=False, server_default=text("0")),
    # A user's history, newest first, a page at a time (keyset: created_at, then room_name).
    Index("ix_voice_sessions_user_created", "user_id", "created_at_us", "room_name"),
    # The live sessions (the repair, the deadlines): a partial index stays as small as they are.
    Index(
        "ix_voice_sessions_live",
        "created_at_us",
        sqlite_where=text("ended_at_us IS NULL"),
        postgresql_where=text("ended_at_us IS NULL"),
    ),
    # Retention purges by end time.
    Index("ix_voice_sessions_ended", "ended_at_us"),
)

# The outbox: each event for the app's backend, committed with the change it reports.
APP_EVENTS = Table(
    "app_events",
    METADATA,
    Column("event_id", String(64), primary_key=True),
    Column("room_name", String(256), nullable=False),
    Column("user_id", String(512), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("type", String(40), nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at_us", BigInteger, nullable=False),
    Column("last_error", String(200)),
    Column("delivered_at_us", BigInteger),
    Index("ix_app_events_session_sequence", "room_name", "sequence", unique=True),
    Index("ix_app_events_due", "state", "next_attempt_at_us"),
    Index("ix_app_events_user", "user_id"),
    # The backlog's count and oldest pending event: a partial index as small as the backlog.
    Index(
        "ix_app_events_pending_created",
        "created_at_us",
        sqlite_where=text("state = 'pending'"),
        postgresql_where=text("state = 'pending'"),
    ),
)

# Endpoints that answered 410 Gone, by a hash of their URL: nothing is sent to them until enabled.
APP_WEBHOOK_ENDPOINTS = Table(
    "app_webhook_endpoints",
    METADATA,
    Column("endpoint", String(64), primary_key=True),
    Column("disabled_at_us", BigInteger, nullable=False),
    Column("reason", String(200)),
)

# Seconds used per user and UTC calendar day: allowances sum the days of their period.
# Kept apart from the records, so erasing history never resets a meter.
USAGE_DAYS = Table(
    "usage_days",
    METADATA,
    Column("user_id", String(512), primary_key=True),
    Column("day", Integer, primary_key=True),  # days since 1970-01-01, UTC
    Column("used_ms", BigInteger, nullable=False),
)
