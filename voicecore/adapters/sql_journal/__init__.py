"""The session journal on SQL databases: SQLite (the embedded default) and PostgreSQL (many replicas).

journal.py (SqlSessionJournal), database.py (the engine and its transactions),
schema.py (the tables), rows.py (records to rows), migrate.py and migrations/
(Alembic); the app-event outbox: outbox_writes.py (in the journal's transactions),
outbox.py (SqlEventOutbox, what senders claim) and outbox_sql.py (its claim
query and settlements), wake_ups.py (PostgreSQL's LISTEN), local_sends.py
(SQLite's one sending process).
"""

from voicecore.adapters.sql_journal.database import driver_url
from voicecore.adapters.sql_journal.journal import SqlSessionJournal
from voicecore.adapters.sql_journal.outbox import SqlEventOutbox

__all__ = ["SqlEventOutbox", "SqlSessionJournal", "driver_url"]
