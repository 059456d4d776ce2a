"""The benchmark's redis-server: a database per service, and a count that shows whether any used it."""

from __future__ import annotations

import redis

from bench.stores import RedisDatabases
from voicecore.testing.redis_server import LocalRedisServer


def test_databases_are_distinct_and_their_use_is_counted(redis_server: LocalRedisServer) -> None:
    databases = RedisDatabases(redis_server)
    try:
        urls = [databases.allocate() for _ in range(3)]
        assert len(set(urls)) == 3
        databases.start_counting()
        assert databases.commands_from_services() == 0
        assert databases.commands_from_services() == 0
        service = redis.Redis.from_url(urls[1])
        try:
            service.set("bench-test", "1")
            service.delete("bench-test")
        finally:
            service.close()
        assert databases.commands_from_services() >= 2
    finally:
        databases.close()
