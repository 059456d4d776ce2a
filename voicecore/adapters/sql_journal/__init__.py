"""The session journal on SQL databases: SQLite (the embedded default) and PostgreSQL (many replicas).

journal.py (SqlSessionJournal), schema.py (the tables), rows.py (records to rows),
migrate.py and migrations/ (Alembic).
"""

from voicecore.adapters.sql_journal.journal import SqlSessionJournal, driver_url

__all__ = ["SqlSessionJournal", "driver_url"]
