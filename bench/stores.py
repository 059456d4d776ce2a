"""The benchmark's own redis-server, one database per service that uses the Redis store.

Separate databases keep the services' indexes, locks and counters apart, as if each
had its own Redis, while one redis-server process serves them all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from voicecore.testing.redis_server import LocalRedisServer, running_redis_server

_DATABASES = 16  # redis-server's default


@dataclass
class RedisDatabases:
    server: LocalRedisServer
    _next: int = field(default=0, init=False)

    def allocate(self) -> str:
        """The URL of a database no other service has been given."""
        if self._next >= _DATABASES:
            raise RuntimeError(f"the benchmark's redis-server has only {_DATABASES} databases")
        url = f"redis://127.0.0.1:{self.server.port}/{self._next}"
        self._next += 1
        return url


@contextlib.contextmanager
def redis_databases() -> Iterator[RedisDatabases]:
    with running_redis_server() as server:
        yield RedisDatabases(server)
