"""The journal's schema with Alembic: where the database stands, and bringing it to this code's head.

Run on a connection the journal opened (``run_sync``), never from a URL of Alembic's
own, so the one place that knows how to connect is the journal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

MIGRATIONS: Final = Path(__file__).parent / "migrations"
MIGRATE_COMMAND: Final = "python -m voicecore_http migrate"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships its migrations
        raise RuntimeError("the journal's migrations are missing")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; None for a database the journal never touched."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")
