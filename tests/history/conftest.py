"""Fixtures of the journal tests: both databases, each journal fresh and on the test's clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.journals import postgres_journal_url, sqlite_journal_url
from voicecore.adapters.sql_journal import SqlSessionJournal
from voicecore.testing.postgres_server import (
    LocalPostgresServer,
)


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
