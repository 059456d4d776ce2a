"""The benchmark's PostgreSQL server, one database per service whose journal is on PostgreSQL.

One server per run, started and stopped like the LiveKit server and redis-server
(``voicecore.testing.postgres_server``: Debian's PostgreSQL 15, as the postgres user, in
a temporary directory). Each target on PostgreSQL gets a database of its own, as if it
had its own server. The server runs with the launcher's test settings unless
``durable``; ``settings()`` reports which, for the JSON, since they decide what a
commit costs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from voicecore.testing.postgres_server import LocalPostgresServer, running_postgres_server

# What decides a commit's cost, reported with the figures.
_REPORTED_SETTINGS: Final = (
    "SELECT name, setting FROM pg_settings WHERE name IN "
    "('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'server_version') ORDER BY name"
)


@dataclass
class PostgresDatabases:
    server: LocalPostgresServer
    _made: list[str] = field(default_factory=list, init=False)

    def allocate(self, owner: str) -> str:
        """The URL of a new, empty database for the target ``owner``."""
        name = f"bench_{len(self._made)}_{''.join(c if c.isalnum() else '_' for c in owner)}"[:63].lower()
        self.server.psql(f'CREATE DATABASE "{name}"')
        self._made.append(name)
        return self.server.database_url(name)

    def settings(self) -> dict[str, str]:
        rows = self.server.psql(_REPORTED_SETTINGS)
        return dict(line.split("|", 1) for line in rows.splitlines() if "|" in line)


@contextlib.contextmanager
def postgres_databases(*, durable: bool = False) -> Iterator[PostgresDatabases]:
    with running_postgres_server(durable=durable) as server:
        yield PostgresDatabases(server)
