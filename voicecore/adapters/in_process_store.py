"""The in-process SessionStore: the embedded default for a single replica; needs nothing.

Every method runs to completion without awaiting, so on one event loop each
call is atomic by construction, as a Lua script is on the Redis server. It
keeps exactly the semantics of ``RedisSessionStore``; tests/store runs one
contract against both.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from voicecore.adapters.in_process_keys import DEFAULT_MAX_IDEMPOTENCY_KEYS, IdempotencyKeys
from voicecore.adapters.token_bucket import TOKEN_UNITS, take_token
from voicecore.core.errors import StoreError
from voicecore.core.store import (
    DEFAULT_RECORD_TTL,
    Admission,
    Admitted,
    Claim,
    RateLimited,
    RoomTaken,
    SessionRecord,
    SessionStore,
    SlotRefused,
    positive_milliseconds,
    require_aware,
    require_limits,
    require_room_name,
    to_milliseconds,
)

_MINUTE_MS = 60_000
_SWEEP_EVERY_MS = _MINUTE_MS
# Superseded deadlines kept in the heap before it is rebuilt from the records.
_STALE_DEADLINES = 1024


@dataclass
class _Stored:
    record: SessionRecord
    expires_ms: int


class InProcessSessionStore(SessionStore):
    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        record_ttl: timedelta = DEFAULT_RECORD_TTL,
        max_idempotency_keys: int = DEFAULT_MAX_IDEMPOTENCY_KEYS,
    ) -> None:
        self._clock = clock
        self._record_ttl_ms = positive_milliseconds(record_ttl, "record_ttl")
        self._sessions: dict[str, _Stored] = {}
        # (deadline ms, room name), a min-heap holding every record's current deadline (and
        # some superseded ones): what has expired is found without a look at the rest.
        self._deadlines: list[tuple[int, str]] = []
        self._rooms_of: dict[str, set[str]] = {}  # user -> room names: the cap and lists see one user's
        self._buckets: dict[str, tuple[int, int]] = {}  # user -> (units, last ms)
        self._keys = IdempotencyKeys(max_idempotency_keys)
        self._sightings: dict[str, int] = {}  # event id -> forgotten at (ms)
        self._locks: dict[str, tuple[str, int]] = {}  # name -> (owner, lease end ms)
        self._next_sweep_ms = 0
        self._closed = False

    def _now(self, operation: str) -> int:
        if self._closed:
            raise StoreError(operation, "the store is closed")
        now = to_milliseconds(self._clock())
        if now >= self._next_sweep_ms:
            self._sweep(now)
        return now

    def _sweep(self, now: int) -> None:
        """Forget what has expired, as Redis key expiry does, so nothing grows forever."""
        self._next_sweep_ms = now + _SWEEP_EVERY_MS
        self._expire_due(now)
        # A bucket left alone for a minute is full again: the same as no bucket.
        self._buckets = {u: b for u, b in self._buckets.items() if now - b[1] < _MINUTE_MS}
        self._keys.sweep(now)
        self._sightings = {e: end for e, end in self._sightings.items() if end > now}
        self._locks = {n: lock for n, lock in self._locks.items() if lock[1] > now}

    def _live(self, room_name: str, now: int) -> _Stored | None:
        stored = self._sessions.get(room_name)
        if stored is not None and stored.expires_ms <= now:
            self._forget(stored.record)
            return None
        return stored

    def _expire_due(self, now: int) -> None:
        """Forget every record whose deadline has passed; O(log n) for each, none for the rest."""
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, room_name = heapq.heappop(deadlines)
            self._live(room_name, now)  # forgets it, unless a later change moved its deadline on

    def _keep_until(self, stored: _Stored, expires_ms: int) -> None:
        stored.expires_ms = expires_ms
        heapq.heappush(self._deadlines, (expires_ms, stored.record.room_name))
        if len(self._deadlines) > 2 * len(self._sessions) + _STALE_DEADLINES:
            self._deadlines = [(s.expires_ms, name) for name, s in self._sessions.items()]
            heapq.heapify(self._deadlines)

    def _forget(self, record: SessionRecord) -> None:
        del self._sessions[record.room_name]
        rooms = self._rooms_of[record.user_id]
        rooms.discard(record.room_name)
        if not rooms:
            del self._rooms_of[record.user_id]

    def _live_records(self, now: int, rooms: set[str] | None = None) -> list[SessionRecord]:
        names = list(self._sessions if rooms is None else rooms)
        records = [s.record for name in names if (s := self._live(name, now))]
        return sorted(records, key=lambda r: (r.created_at, r.room_name))

    def _live_rooms_of(self, user_id: str, now: int) -> set[str]:
        return {r.room_name for r in self._live_records(now, self._rooms_of.get(user_id, set()))}

    # --- live sessions -------------------------------------------------------------

    async def add_session(self, record: SessionRecord) -> bool:
        now = self._now("add_session")
        if self._live(record.room_name, now) is not None:
            return False
        self._add(record, now)
        return True

    def _add(self, record: SessionRecord, now: int) -> None:
        stored = self._sessions[record.room_name] = _Stored(record, now + self._record_ttl_ms)
        self._keep_until(stored, stored.expires_ms)
        self._rooms_of.setdefault(record.user_id, set()).add(record.room_name)

    async def admit_session(self, record: SessionRecord, *, max_live: int, per_minute: int) -> Admission:
        require_limits(max_live, per_minute)
        now = self._now("admit_session")
        if self._live(record.room_name, now) is not None:
            return RoomTaken()
        if per_minute and (retry_after := self._take_token(record.user_id, per_minute, now)):
            return RateLimited(retry_after)
        if max_live and (live := self._live_count(record.user_id, max_live, now)) >= max_live:
            return SlotRefused(live)
        self._add(record, now)
        return Admitted()

    async def get_session(self, room_name: str) -> SessionRecord | None:
        stored = self._live(room_name, self._now("get_session"))
        return stored.record if stored else None

    async def user_sessions(self, user_id: str) -> list[SessionRecord]:
        return self._live_records(self._now("user_sessions"), self._rooms_of.get(user_id, set()))

    async def all_sessions(self) -> list[SessionRecord]:
        return self._live_records(self._now("all_sessions"))

    async def count_sessions(self) -> int:
        self._expire_due(self._now("count_sessions"))
        return len(self._sessions)

    async def remove_session(self, room_name: str) -> SessionRecord | None:
        stored = self._live(room_name, self._now("remove_session"))
        if stored is None:
            return None
        self._forget(stored.record)
        return stored.record

    async def remove_sessions(self, room_names: Sequence[str]) -> list[SessionRecord]:
        now = self._now("remove_sessions")
        removed = []
        for room_name in room_names:
            stored = self._live(room_name, now)
            if stored is not None:
                self._forget(stored.record)
                removed.append(stored.record)
        return removed

    async def note_participant(
        self, room_name: str, *, agent: bool, joined: bool, at: datetime
    ) -> SessionRecord | None:
        require_aware(at)
        now = self._now("note_participant")
        stored = self._live(room_name, now)
        if stored is None:
            return None
        stored.record = stored.record.with_participant_event(agent=agent, joined=joined, at=at)
        self._keep_until(stored, now + self._record_ttl_ms)
        return stored.record

    async def count_dispatch(self, room_name: str) -> int | None:
        now = self._now("count_dispatch")
        stored = self._live(room_name, now)
        if stored is None:
            return None
        count = stored.record.agent_dispatches + 1
        stored.record = replace(stored.record, agent_dispatches=count)
        self._keep_until(stored, now + self._record_ttl_ms)
        return count

    def _live_count(self, user_id: str, limit: int, now: int) -> int:
        """The user's live sessions; expired ones are sought only when the count alone reaches ``limit``."""
        live = len(self._rooms_of.get(user_id, ()))
        return len(self._live_rooms_of(user_id, now)) if live >= limit else live

    def _take_token(self, user_id: str, per_minute: int, now: int) -> int:
        """0 if a token was taken, else the Retry-After seconds."""
        units, last = self._buckets.get(user_id, (per_minute * TOKEN_UNITS, now))
        units, last, retry_after = take_token(units, last, now, per_minute)
        self._buckets[user_id] = (units, last)
        return retry_after

    # --- idempotency keys ----------------------------------------------------------

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
        ttl_ms = positive_milliseconds(ttl, "ttl")
        lease_ms = positive_milliseconds(lease, "lease")
        now = self._now("claim_idempotency_key")
        return self._keys.claim(
            user_id,
            key,
            fingerprint=fingerprint,
            holder=holder,
            now=now,
            ttl_ms=ttl_ms,
            lease_ms=lease_ms,
            live=lambda room_name: self._live(room_name, now) is not None,
        )

    async def complete_idempotency_key(self, user_id: str, key: str, *, holder: str, room_name: str) -> bool:
        require_room_name(room_name)
        now = self._now("complete_idempotency_key")
        return self._keys.complete(user_id, key, holder=holder, room_name=room_name, now=now)

    async def release_idempotency_key(self, user_id: str, key: str, *, holder: str) -> bool:
        return self._keys.release(user_id, key, holder=holder, now=self._now("release_idempotency_key"))

    async def forget_idempotency_keys(self, user_id: str) -> int:
        self._now("forget_idempotency_keys")
        return self._keys.forget_user(user_id)

    # --- event dedupe and the lock -------------------------------------------------

    async def first_sighting(self, event_id: str, *, ttl: timedelta) -> bool:
        ttl_ms = positive_milliseconds(ttl, "ttl")
        now = self._now("first_sighting")
        if self._sightings.get(event_id, now) > now:
            return False
        self._sightings[event_id] = now + ttl_ms
        return True

    async def acquire_lock(self, name: str, owner: str, *, lease: timedelta) -> bool:
        lease_ms = positive_milliseconds(lease, "lease")
        now = self._now("acquire_lock")
        holder, end = self._locks.get(name, (owner, now))
        if holder != owner and end > now:
            return False
        self._locks[name] = (owner, now + lease_ms)
        return True

    async def release_lock(self, name: str, owner: str) -> bool:
        now = self._now("release_lock")
        holder, end = self._locks.get(name, ("", now))
        if holder != owner:
            return False
        del self._locks[name]
        return end > now

    # --- life cycle ---------------------------------------------------------------------

    async def ping(self) -> None:
        self._now("ping")

    async def open(self) -> None:
        return None

    async def aclose(self) -> None:
        self._closed = True
