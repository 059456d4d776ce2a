"""Fixtures of the journal tests: both databases, each journal fresh and on the test's clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.journals import postgres_journal_url, prepare_postgres_template, sqlite_journal_url
from voicecore.adapters.sql_journal import SqlSessionJournal
from voicecore.testing.postgres_server import (
    LocalPostgresServer,
    find_postgres_bin_dir,
    running_postgres_server,
)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgresServer]:
    bin_dir = find_postgres_bin_dir()
    if bin_dir is None:
        pytest.fail("PostgreSQL 15 is not installed: run `make setup` (apt-get install postgresql)")
    with running_postgres_server(bin_dir) as server:
        prepare_postgres_template(server)
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated journal database on each engine."""
    if request.param == "sqlite":
        return sqlite_journal_url(tmp_path)
    server: LocalPostgresServer = request.getfixturevalue("postgres_server")
    if not server.running:
        server.start()
    return postgres_journal_url(server)


@pytest.fixture
async def journal(journal_url: str) -> AsyncIterator[SqlSessionJournal]:
    opened = SqlSessionJournal(journal_url)
    await opened.open()
    yield opened
    await opened.aclose()
