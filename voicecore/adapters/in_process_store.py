"""The in-process SessionStore: the embedded default for a single replica; needs nothing.

Every method runs to completion without awaiting, so on one event loop each
call is atomic by construction, as a Lua script is on the Redis server. It
keeps exactly the semantics of ``RedisSessionStore``; tests/shared_state and
tests/guardrails run one contract against both.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from voicecore.adapters.in_process_index import IndexMarker
from voicecore.core.errors import StoreError
from voicecore.core.session_record import SessionRecord, require_aware, to_milliseconds
from voicecore.core.store import (
    DEFAULT_RECORD_TTL,
    Admission,
    Admitted,
    Claim,
    Claimed,
    Completed,
    InProgress,
    Mismatch,
    RateLimited,
    RoomTaken,
    SessionStore,
    SlotRefused,
    Unindexed,
    positive_milliseconds,
    require_limits,
    require_room_name,
)

# The rate limit counts in integer units so both stores compute the very same
# answers: a token is 60 000 units and the bucket gains ``per_minute`` units a
# millisecond, i.e. ``per_minute`` tokens a minute.
TOKEN_UNITS = 60_000


def take_token(units: int, last_ms: int, now_ms: int, per_minute: int) -> tuple[int, int, int]:
    """The token bucket step: (units left, time kept, 0 if allowed else Retry-After seconds)."""
    capacity = per_minute * TOKEN_UNITS
    elapsed = max(0, now_ms - last_ms)
    units = min(capacity, units + elapsed * per_minute)
    kept = max(last_ms, now_ms)
    if units >= TOKEN_UNITS:
        return units - TOKEN_UNITS, kept, 0
    wait_ms = -(-(TOKEN_UNITS - units) // per_minute)
    return units, kept, max(1, -(-wait_ms // 1000))


_MINUTE_MS = 60_000
_SWEEP_EVERY_MS = _MINUTE_MS


@dataclass
class _Stored:
    record: SessionRecord
    expires_ms: int


@dataclass
class _IdempotencyClaim:
    fingerprint: str
    holder: str
    room_name: str | None
    lease_until_ms: int
    expires_ms: int


class InProcessSessionStore(SessionStore):
    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        record_ttl: timedelta = DEFAULT_RECORD_TTL,
    ) -> None:
        self._clock = clock
        self._record_ttl_ms = positive_milliseconds(record_ttl, "record_ttl")
        self._sessions: dict[str, _Stored] = {}
        self._rooms_of: dict[str, set[str]] = {}  # user -> room names: the cap and lists see one user's
        self._deadlines: dict[str, datetime] = {}  # room -> ends_at, for those that have one
        self._deadline_heap: list[tuple[datetime, str]] = []
        self._buckets: dict[str, tuple[int, int]] = {}  # user -> (units, last ms)
        self._claims: dict[tuple[str, str], _IdempotencyClaim] = {}
        self._sightings: dict[str, int] = {}  # event id -> forgotten at (ms)
        self._locks: dict[str, tuple[str, int]] = {}  # name -> (owner, lease end ms)
        self._index = IndexMarker()
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
        self._live_records(now)
        # A bucket left alone for a minute is full again: the same as no bucket.
        self._buckets = {u: b for u, b in self._buckets.items() if now - b[1] < _MINUTE_MS}
        self._claims = {k: c for k, c in self._claims.items() if c.expires_ms > now}
        self._sightings = {e: end for e, end in self._sightings.items() if end > now}
        self._locks = {n: lock for n, lock in self._locks.items() if lock[1] > now}

    def _live(self, room_name: str, now: int) -> _Stored | None:
        stored = self._sessions.get(room_name)
        if stored is not None and stored.expires_ms <= now:
            self._forget(stored.record)
            return None
        return stored

    def _forget(self, record: SessionRecord) -> None:
        del self._sessions[record.room_name]
        self._deadlines.pop(record.room_name, None)
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
        self._sessions[record.room_name] = _Stored(record, now + self._record_ttl_ms)
        self._rooms_of.setdefault(record.user_id, set()).add(record.room_name)
        self._index_deadline(record)

    def _index_deadline(self, record: SessionRecord) -> None:
        """The deadline heap holds (ends_at, room) entries; a superseded entry is skipped when popped."""
        if record.ends_at is None:
            self._deadlines.pop(record.room_name, None)
            return
        self._deadlines[record.room_name] = record.ends_at
        heapq.heappush(self._deadline_heap, (record.ends_at, record.room_name))

    async def set_ends_at(self, ends: Mapping[str, datetime | None], *, tighten: bool) -> None:
        now = self._now("set_ends_at")
        for room_name, at in ends.items():
            stored = self._live(room_name, now)
            if stored is None:
                continue
            old, new = stored.record.ends_at, None if at is None else require_aware(at)
            if tighten and (new is None or (old is not None and old <= new)):
                continue
            stored.record = replace(stored.record, ends_at=new)
            self._index_deadline(stored.record)

    async def due(self, now: datetime, *, limit: int) -> list[SessionRecord]:
        at = require_aware(now)
        self._now("due")
        found: list[SessionRecord] = []
        kept: list[tuple[datetime, str]] = []
        while self._deadline_heap and self._deadline_heap[0][0] <= at and len(found) < limit:
            ends_at, room_name = heapq.heappop(self._deadline_heap)
            stored = self._sessions.get(room_name)
            if (
                stored is None
                or self._deadlines.get(room_name) != ends_at
                or stored.record.ends_at != ends_at
            ):
                continue  # ended, expired, or given another deadline since
            found.append(stored.record)
            kept.append((ends_at, room_name))
        for entry in kept:  # still due until they end: a later pass sees them again
            heapq.heappush(self._deadline_heap, entry)
        return found

    async def admit_session(self, record: SessionRecord, *, max_live: int, per_minute: int) -> Admission:
        require_limits(max_live, per_minute)
        now = self._now("admit_session")
        if not self._index.indexed:
            return Unindexed()
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
        stored.expires_ms = now + self._record_ttl_ms
        return stored.record

    async def count_dispatch(self, room_name: str, *, at: datetime, limit: int) -> int | None:
        sent = require_aware(at)
        now = self._now("count_dispatch")
        stored = self._live(room_name, now)
        if stored is None:
            return None
        if stored.record.agent_dispatches >= limit:
            return 0
        count, known = stored.record.agent_dispatches + 1, stored.record.redispatched_at
        latest = sent if known is None or sent > known else known
        stored.record = replace(stored.record, agent_dispatches=count, redispatched_at=latest)
        stored.expires_ms = now + self._record_ttl_ms
        return count

    async def begin_rebuild(self, rebuild_id: str, *, lease: timedelta) -> bool:
        lease_ms = positive_milliseconds(lease, "lease")
        return self._index.begin(rebuild_id, now_ms=self._now("begin_rebuild"), lease_ms=lease_ms)

    async def finish_rebuild(self, rebuild_id: str) -> bool:
        return self._index.finish(rebuild_id, now_ms=self._now("finish_rebuild"))

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
        claim = self._claims.get((user_id, key))
        if claim is not None and claim.expires_ms > now:
            if claim.room_name is None and claim.lease_until_ms > now:
                if claim.fingerprint != fingerprint:
                    return Mismatch()
                return Claimed() if claim.holder == holder else InProgress()
            if claim.room_name is not None and self._live(claim.room_name, now) is not None:
                if claim.fingerprint != fingerprint:
                    return Mismatch()
                return Completed(claim.room_name)
        self._claims[(user_id, key)] = _IdempotencyClaim(
            fingerprint, holder, None, lease_until_ms=now + lease_ms, expires_ms=now + ttl_ms
        )
        return Claimed()

    async def complete_idempotency_key(self, user_id: str, key: str, *, holder: str, room_name: str) -> bool:
        require_room_name(room_name)
        claim = self._unfinished_claim("complete_idempotency_key", user_id, key, holder)
        if claim is None:
            return False
        claim.room_name = room_name
        return True

    async def release_idempotency_key(self, user_id: str, key: str, *, holder: str) -> bool:
        if self._unfinished_claim("release_idempotency_key", user_id, key, holder) is None:
            return False
        del self._claims[(user_id, key)]
        return True

    async def forget_idempotency_keys(self, user_id: str) -> int:
        self._now("forget_idempotency_keys")
        keys = [claim for claim in self._claims if claim[0] == user_id]
        for claim in keys:
            del self._claims[claim]
        return len(keys)

    def _unfinished_claim(
        self, operation: str, user_id: str, key: str, holder: str
    ) -> _IdempotencyClaim | None:
        now = self._now(operation)
        claim = self._claims.get((user_id, key))
        if claim is None or claim.expires_ms <= now or claim.room_name is not None or claim.holder != holder:
            return None
        return claim

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
