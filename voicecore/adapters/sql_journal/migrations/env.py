"""Alembic's environment: always run on a connection the journal hands over (never from a URL here)."""

from __future__ import annotations

from alembic import context

from voicecore.adapters.sql_journal.schema import METADATA

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=METADATA,
    # SQLite alters tables by copying them: Alembic's batch mode does it.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
