"""SessionStore on Redis (redis.asyncio) for many replicas: the only module that imports redis.

Each atomic operation is one Lua script (``redis_lua``), so replicas never
read-then-write. Every call goes through ``redis_calls.translated``, once: every
``RedisError`` (refused or dropped connection, timeout, script error) leaves as
the core's ``StoreError`` naming the operation, never with Redis's own text,
which may carry the server's address.

Keys and records are laid out as ``redis_records`` describes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from voicecore.adapters.redis_answers import admission, claim
from voicecore.adapters.redis_calls import translated
from voicecore.adapters.redis_index import IndexSeen
from voicecore.adapters.redis_lua import SCRIPTS
from voicecore.adapters.redis_records import (
    decode,
    decode_flat,
    encode,
    in_order,
    key_part,
    participant_field,
)
from voicecore.core.errors import StoreError
from voicecore.core.session_record import SessionRecord, to_microseconds, to_milliseconds
from voicecore.core.store import (
    DEFAULT_RECORD_TTL,
    Admission,
    Claim,
    SessionStore,
    positive_milliseconds,
    require_limits,
    require_room_name,
)

DEFAULT_PREFIX = "voicecore:"
_REMOVALS_PER_SCRIPT = 500
DEFAULT_TIMEOUT_SECONDS = 2.0


def _glob_literal(text: str) -> str:
    """``text`` matched literally by a Redis glob pattern (SCAN MATCH)."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


class RedisSessionStore(SessionStore):
    """Owns one redis.asyncio client (a connection pool) for its life.

    The client must be built in the event loop that uses it: ``open()`` (or the
    first call) builds it, ``aclose()`` closes it. ``clock=None`` (the default)
    means the Redis server's clock; tests inject one.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        record_ttl: timedelta = DEFAULT_RECORD_TTL,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._timeout_seconds = timeout_seconds
        self._record_ttl_ms = str(positive_milliseconds(record_ttl, "record_ttl"))
        self._clock = clock
        self._client: aioredis.Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._closed = False
        self._index_seen = IndexSeen()

    def _redis(self, operation: str) -> aioredis.Redis:
        if self._client is None:
            if self._closed:
                # A late call after shutdown must not open a pool nobody closes.
                raise StoreError(operation, "the store is closed")
            self._client = aioredis.Redis.from_url(
                self._url,
                decode_responses=True,
                socket_connect_timeout=self._timeout_seconds,
                # redis-py's own retries would run any script twice: translated() decides.
                retry=Retry(NoBackoff(), retries=0),
            )
            self._scripts = {name: self._client.register_script(lua) for name, lua in SCRIPTS.items()}
        return self._client

    async def open(self) -> None:
        self._closed = False
        self._redis("open")

    async def aclose(self) -> None:
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def _run(self, operation: str, script: str, keys: Sequence[str], *args: object) -> Any:
        self._redis(operation)
        now = "" if self._clock is None else str(to_milliseconds(self._clock()))
        run = self._scripts[script]
        call = lambda: run(keys=list(keys), args=[self._prefix, now, *args])  # noqa: E731
        return await translated(operation, call, self._timeout_seconds)

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    def _session_key(self, room_name: str) -> str:
        return self._key("session", key_part(room_name))

    def _user_key(self, user_id: str, what: str) -> str:
        return self._key("user", key_part(user_id), what)

    def _rate_key(self, user_id: str) -> str:
        return self._key("rate", key_part(user_id))

    # --- live sessions -------------------------------------------------------------

    def _index_keys(self, record: SessionRecord) -> list[str]:
        """What recording a session writes: the record, the user's index, the index of all rooms."""
        return [
            self._session_key(record.room_name),
            self._user_key(record.user_id, "sessions"),
            self._key("sessions"),
        ]

    async def add_session(self, record: SessionRecord) -> bool:
        keys = self._index_keys(record)
        added = await self._run("add_session", "ADD_SESSION", keys, self._record_ttl_ms, encode(record))
        return bool(added)

    async def set_ends_at(self, ends: Mapping[str, datetime | None], *, tighten: bool) -> list[SessionRecord]:
        pairs = [
            value for room, at in ends.items() for value in (room, "" if at is None else to_microseconds(at))
        ]
        if not pairs:
            return []
        changed = await self._run("set_ends_at", "SET_ENDS_AT", [], "1" if tighten else "0", *pairs)
        return [decode_flat(flat) for flat in changed]

    async def due(self, now: datetime, *, limit: int) -> list[SessionRecord]:
        found = await self._run("due", "DUE", [self._key("deadlines")], to_microseconds(now), limit)
        return [decode_flat(flat) for flat in found]

    async def admit_session(self, record: SessionRecord, *, max_live: int, per_minute: int) -> Admission:
        require_limits(max_live, per_minute)
        keys = [*self._index_keys(record), self._rate_key(record.user_id)]
        seen = self._index_seen
        args = (
            self._record_ttl_ms,
            max_live,
            per_minute,
            encode(record),
            seen.epoch,
            seen.marked,
            seen.admitted,
        )
        return admission(await self._run("admit_session", "ADMIT_SESSION", keys, *args), seen)

    async def get_session(self, room_name: str) -> SessionRecord | None:
        client = self._redis("get_session")
        key = self._session_key(room_name)
        fields: dict[str, str] = await translated(
            "get_session", lambda: cast(Awaitable[dict[str, str]], client.hgetall(key)), self._timeout_seconds
        )
        return decode(fields) if fields else None

    async def user_sessions(self, user_id: str) -> list[SessionRecord]:
        found = await self._run("user_sessions", "SESSIONS_IN", [self._user_key(user_id, "sessions")], "")
        return in_order([decode_flat(flat) for flat in found])

    async def all_sessions(self) -> list[SessionRecord]:
        found = await self._run("all_sessions", "SESSIONS_IN", [self._key("sessions")], "all")
        return in_order([decode_flat(flat) for flat in found])

    async def count_sessions(self) -> int:
        return int(await self._run("count_sessions", "COUNT_SESSIONS", [self._key("expiries")]))

    async def remove_session(self, room_name: str) -> SessionRecord | None:
        keys = [self._session_key(room_name), self._key("sessions")]
        flat = await self._run("remove_session", "REMOVE_SESSION", keys, room_name)
        return decode_flat(flat) if flat else None

    async def remove_sessions(self, room_names: Sequence[str]) -> list[SessionRecord]:
        removed: list[SessionRecord] = []
        # In chunks: a script blocks the Redis server while it runs.
        for start in range(0, len(room_names), _REMOVALS_PER_SCRIPT):
            chunk = room_names[start : start + _REMOVALS_PER_SCRIPT]
            found = await self._run("remove_sessions", "REMOVE_SESSIONS", [self._key("sessions")], *chunk)
            removed += [decode_flat(flat) for flat in found]
        return removed

    async def note_participant(
        self, room_name: str, *, agent: bool, joined: bool, at: datetime
    ) -> SessionRecord | None:
        field = participant_field(agent=agent, joined=joined)
        flat = await self._run(
            "note_participant",
            "NOTE_PARTICIPANT",
            [self._session_key(room_name)],
            self._record_ttl_ms,
            field,
            to_microseconds(at),
        )
        return decode_flat(flat) if flat else None

    async def count_dispatch(self, room_name: str, *, at: datetime, limit: int) -> int | None:
        keys = [self._session_key(room_name)]
        args = (self._record_ttl_ms, limit, to_microseconds(at))
        count = await self._run("count_dispatch", "COUNT_DISPATCH", keys, *args)
        return None if count is None else int(count)

    async def begin_rebuild(self, rebuild_id: str, *, lease: timedelta) -> bool:
        keys, lease_ms = [self._key("rebuild", key_part(rebuild_id))], positive_milliseconds(lease, "lease")
        return bool(await self._run("begin_rebuild", "BEGIN_REBUILD", keys, lease_ms))

    async def finish_rebuild(self, rebuild_id: str) -> bool:
        keys = [self._key("rebuild", key_part(rebuild_id))]
        return bool(await self._run("finish_rebuild", "FINISH_REBUILD", keys, rebuild_id))

    # --- idempotency keys ----------------------------------------------------------

    def _claim_key(self, user_id: str, key: str) -> str:
        return self._key("idem", key_part(user_id), key_part(key))

    async def claim_idempotency_key(
        self,
        user_id: str,
        key: str,
        *,
        fingerprint: str,
        holder: str,
        ttl: timedelta,
        lease: timedelta,
    ) -> Claim:
        args = (fingerprint, holder, positive_milliseconds(ttl, "ttl"), positive_milliseconds(lease, "lease"))
        keys = [self._claim_key(user_id, key)]
        return claim(await self._run("claim_idempotency_key", "CLAIM_KEY", keys, *args))

    async def complete_idempotency_key(self, user_id: str, key: str, *, holder: str, room_name: str) -> bool:
        require_room_name(room_name)
        keys = [self._claim_key(user_id, key)]
        return bool(await self._run("complete_idempotency_key", "FINISH_CLAIM", keys, holder, room_name))

    async def release_idempotency_key(self, user_id: str, key: str, *, holder: str) -> bool:
        keys = [self._claim_key(user_id, key)]
        return bool(await self._run("release_idempotency_key", "FINISH_CLAIM", keys, holder, ""))

    async def forget_idempotency_keys(self, user_id: str) -> int:
        # A SCAN of the key space, not an index of each user's keys: it runs once per
        # deleted account, where an index would cost every start that carries a key.
        client = self._redis("forget_idempotency_keys")
        pattern = _glob_literal(self._key("idem", key_part(user_id), "")) + "*"

        async def forget() -> int:
            found = [key async for key in client.scan_iter(match=pattern, count=1000)]
            return int(await client.delete(*found)) if found else 0

        return int(await translated("forget_idempotency_keys", forget, self._timeout_seconds * 10))

    # --- event dedupe and the lock -------------------------------------------------

    async def first_sighting(self, event_id: str, *, ttl: timedelta) -> bool:
        keys = [self._key("event", key_part(event_id))]
        ttl_ms = positive_milliseconds(ttl, "ttl")
        return bool(await self._run("first_sighting", "FIRST_SIGHTING", keys, ttl_ms))

    async def acquire_lock(self, name: str, owner: str, *, lease: timedelta) -> bool:
        keys = [self._key("lock", key_part(name))]
        lease_ms = positive_milliseconds(lease, "lease")
        return bool(await self._run("acquire_lock", "ACQUIRE_LOCK", keys, owner, lease_ms))

    async def release_lock(self, name: str, owner: str) -> bool:
        keys = [self._key("lock", key_part(name))]
        return bool(await self._run("release_lock", "RELEASE_LOCK", keys, owner))

    # --- life cycle ---------------------------------------------------------------------

    async def ping(self) -> None:
        client = self._redis("ping")
        await translated("ping", lambda: cast(Awaitable[bool], client.ping()), self._timeout_seconds)
