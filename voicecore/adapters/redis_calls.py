"""How RedisSessionStore makes a call: one deadline for all of it, one retry where that is safe,
and every Redis failure leaving as the core's ``StoreError`` naming the operation, never with
Redis's own text (which may carry the server's address).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from voicecore.core.errors import StoreError

# Operations whose second run gives the same answer as the first. Only these are
# run again after a dropped connection (a pooled socket that died with a
# restarted Redis): the others' script may have run before the reply was lost.
_IDEMPOTENT = frozenset(
    {
        "get_session",
        "user_sessions",
        "all_sessions",
        "count_sessions",
        "set_ends_at",
        "due",
        "note_participant",
        "claim_idempotency_key",
        "acquire_lock",
        "begin_rebuild",
        "ping",
    }
)


async def translated(operation: str, call: Callable[[], Awaitable[Any]], timeout_seconds: float) -> Any:
    retries = 1 if operation in _IDEMPOTENT else 0
    while True:
        try:
            # One deadline for the whole call. redis-py's socket_timeout would start a
            # task per write (asyncio.wait_for) and a deadline per read, on every call;
            # a call cut short here leaves redis-py to drop its connection.
            async with asyncio.timeout(timeout_seconds):
                return await call()
        except TimeoutError as exc:
            raise StoreError(operation, "Redis failed (TimeoutError)") from exc
        except RedisConnectionError as exc:
            if retries:
                retries -= 1
                continue
            raise StoreError(operation, f"Redis failed ({type(exc).__name__})") from exc
        except RedisError as exc:
            raise StoreError(operation, f"Redis failed ({type(exc).__name__})") from exc
