"""The bench tests' own PostgreSQL server (Debian's, as the bench runs it), one per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.journals import PostgresDatabases, postgres_databases


@pytest.fixture(scope="session")
def bench_postgres() -> Iterator[PostgresDatabases]:
    with postgres_databases() as databases:
        yield databases
