"""The journal's schema: Alembic's migrations from empty to head on both databases, and who may run them.

SQLite (the embedded default) migrates itself at start. PostgreSQL migrates with
``python -m voicecore_http migrate``, or at start with JOURNAL_MIGRATE_ON_START=1;
a service started against an older schema refuses to start and names the command.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from tests.support.service_process import running_service, service_environment
from voicecore.adapters.sql_journal import SqlSessionJournal
from voicecore.adapters.sql_journal.migrate import MIGRATE_COMMAND, current_revision, head_revision
from voicecore.adapters.sql_journal.schema import METADATA
from voicecore.core.errors import JournalSchemaOutdated
from voicecore.testing.livekit_server import LocalLiveKitServer
from voicecore.testing.postgres_server import LocalPostgresServer

_databases = iter(range(1, 10_000))


def empty_database(kind: str, tmp_path: Path, server: LocalPostgresServer | None) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    assert server is not None
    name = f"empty_{next(_databases)}"
    server.psql(f"CREATE DATABASE {name}")
    return server.database_url(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    return empty_database(request.param, tmp_path, server)


def _schema_differences(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), METADATA))


async def test_the_migrations_build_exactly_the_schema_the_code_reads(empty_url: str) -> None:
    journal = SqlSessionJournal(empty_url, migrate=True)
    assert await journal.migrate() == (None, head_revision())
    assert await journal.migrate() == (head_revision(), head_revision())  # a second run changes nothing
    engine = journal.database.engine("test")
    async with engine.connect() as connection:
        assert await connection.run_sync(current_revision) == head_revision()
        # What Alembic built is what schema.py declares: no table, column or index apart.
        assert await connection.run_sync(_schema_differences) == []
    await journal.aclose()


async def test_postgresql_refuses_an_older_schema_and_names_the_command(
    postgres_server: LocalPostgresServer, tmp_path: Path
) -> None:
    url = empty_database("postgresql", tmp_path, postgres_server)
    journal = SqlSessionJournal(url)
    with pytest.raises(JournalSchemaOutdated) as raised:
        await journal.open()
    assert raised.value.command == MIGRATE_COMMAND
    assert MIGRATE_COMMAND in str(raised.value)
    await journal.aclose()


async def test_sqlite_creates_and_migrates_its_file_at_first_start(tmp_path: Path) -> None:
    location = tmp_path / "nested" / "journal.sqlite3"
    journal = SqlSessionJournal(f"sqlite:///{location}")
    await journal.open()
    assert location.is_file()
    assert await journal.live() == []
    await journal.aclose()


def migrate(url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voicecore_http", "migrate"],
        env=service_environment(JOURNAL_URL=url),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_service_on_an_older_postgresql_schema_refuses_to_start_until_migrated(
    livekit_server: LocalLiveKitServer, postgres_server: LocalPostgresServer, tmp_path: Path
) -> None:
    url = empty_database("postgresql", tmp_path, postgres_server)
    refused = subprocess.run(
        [sys.executable, "-m", "voicecore_http", "--port", "0"],
        env=service_environment(livekit_server, JOURNAL_URL=url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode != 0
    assert MIGRATE_COMMAND in refused.stdout + refused.stderr
    assert "voicecore@" not in refused.stdout + refused.stderr  # no database address in the output

    migrated = migrate(url, tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert f"migrated from nothing to {head_revision()}" in migrated.stdout
    assert "127.0.0.1" not in migrated.stdout + migrated.stderr
    again = migrate(url, tmp_path)
    assert f"up to date ({head_revision()})" in again.stdout
    with running_service(tmp_path, livekit_server, JOURNAL_URL=url) as service:
        assert service.running()


def test_journal_migrate_on_start_lets_a_service_migrate_postgresql_itself(
    livekit_server: LocalLiveKitServer, postgres_server: LocalPostgresServer, tmp_path: Path
) -> None:
    url = empty_database("postgresql", tmp_path, postgres_server)
    with running_service(tmp_path, livekit_server, JOURNAL_URL=url, JOURNAL_MIGRATE_ON_START="1") as service:
        assert service.running()
    assert migrate(url, tmp_path).stdout.strip().endswith(f"up to date ({head_revision()})")


def test_with_nothing_configured_the_journal_is_a_file_in_the_working_directory(
    livekit_server: LocalLiveKitServer, tmp_path: Path
) -> None:
    with running_service(tmp_path, livekit_server) as service:
        assert service.running()
    assert (tmp_path / "voicecore-journal.sqlite3").is_file()
