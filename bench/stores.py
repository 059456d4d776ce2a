"""The benchmark's own redis-server, one database per service that uses the Redis store.

Separate databases keep the services' indexes, locks and counters apart, as if each
had its own Redis, while one redis-server process serves them all. The server's
command count tells whether any service used it at all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import redis

from voicecore.testing.redis_server import LocalRedisServer, running_redis_server

_DATABASES = 16  # redis-server's default


@dataclass
class RedisDatabases:
    server: LocalRedisServer
    _monitor: redis.Redis = field(init=False)
    _next: int = field(default=0, init=False)
    _counted_from: int = field(default=0, init=False)
    _reads: int = field(default=0, init=False)  # INFO commands of this count since its start

    def __post_init__(self) -> None:
        self._monitor = redis.Redis(host="127.0.0.1", port=self.server.port)

    def allocate(self) -> str:
        """The URL of a database no other service has been given."""
        if self._next >= _DATABASES:
            raise RuntimeError(f"the benchmark's redis-server has only {_DATABASES} databases")
        url = f"redis://127.0.0.1:{self.server.port}/{self._next}"
        self._next += 1
        return url

    def _commands_processed(self) -> int:
        stats = self._monitor.info("stats")
        assert isinstance(stats, dict)  # the synchronous client answers at once
        return int(stats["total_commands_processed"])

    def start_counting(self) -> None:
        self._counted_from = self._commands_processed()
        self._reads = 0

    def commands_from_services(self) -> int:
        """Commands others sent since ``start_counting``; a reading counts every earlier one, not itself."""
        self._reads += 1
        return self._commands_processed() - self._counted_from - self._reads

    def close(self) -> None:
        self._monitor.close()


@contextlib.contextmanager
def redis_databases() -> Iterator[RedisDatabases]:
    with running_redis_server() as server:
        databases = RedisDatabases(server)
        try:
            yield databases
        finally:
            databases.close()
