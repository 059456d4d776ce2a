"""The in-process SessionStore: the embedded default for a single replica; needs nothing.

Every method runs to completion without awaiting, so on one event loop each
call is atomic by construction, as a Lua script is on the Redis server. It
keeps exactly the semantics of ``RedisSessionStore``; tests/shared_state and
tests/guardrails run one contract against both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from voicecore.adapters.in_process_deadlines import Deadlines
from voicecore.adapters.in_process_expiries import Expiries
from voicecore.adapters.in_process_index import IndexMarker
from voicecore.adapters.in_process_keys import DEFAULT_MAX_IDEMPOTENCY_KEYS, IdempotencyKeys
from voicecore.adapters.in_process_marks import Marks
from voicecore.adapters.token_bucket import TokenBuckets
from voicecore.core.errors import StoreError
from voicecore.core.session_record import SessionRecord, require_aware, to_milliseconds
from voicecore.core.store import (
    DEFAULT_RECORD_TTL,
    Admission,
    Admitted,
    Claim,
    RateLimited,
    RoomTaken,
    SessionStore,
    SlotRefused,
    Unindexed,
    positive_milliseconds,
    require_limits,
    require_room_name,
)

_SWEEP_EVERY_MS = 60_000


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
        self._expiries = Expiries()
        self._rooms_of: dict[str, set[str]] = {}  # user -> room names: the cap and lists see one user's
        self._deadlines = Deadlines()
        self._buckets = TokenBuckets()
        self._keys = IdempotencyKeys(max_idempotency_keys)
        self._marks = Marks()  # events seen, locks
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
        self._expire_due(now)
        self._buckets.sweep(now)
        self._keys.sweep(now)
        self._marks.sweep(now)

    def _live(self, room_name: str, now: int) -> _Stored | None:
        stored = self._sessions.get(room_name)
        if stored is not None and stored.expires_ms <= now:
            self._forget(stored.record)
            return None
        return stored

    def _expire_due(self, now: int) -> None:
        """Forget every record whose expiry has passed; O(log n) for each, none for the rest."""
        for room_name in self._expiries.passed(now):
            self._live(room_name, now)  # forgets it, unless a later change moved its expiry on

    def _keep_until(self, stored: _Stored, expires_ms: int) -> None:
        stored.expires_ms = expires_ms
        every = lambda: [(s.expires_ms, name) for name, s in self._sessions.items()]  # noqa: E731
        self._expiries.push(expires_ms, stored.record.room_name, records=len(self._sessions), current=every)

    def _forget(self, record: SessionRecord) -> None:
        del self._sessions[record.room_name]
        self._deadlines.forget(record.room_name)
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
        self._deadlines.note(record)

    async def set_ends_at(self, ends: Mapping[str, datetime | None], *, tighten: bool) -> list[SessionRecord]:
        now = self._now("set_ends_at")
        changed: list[SessionRecord] = []
        for room_name, at in ends.items():
            stored = self._live(room_name, now)
            if stored is None:
                continue
            old, new = stored.record.ends_at, None if at is None else require_aware(at)
            if new == old or (tighten and (new is None or (old is not None and old <= new))):
                continue
            stored.record = replace(stored.record, ends_at=new)
            self._deadlines.note(stored.record)
            changed.append(stored.record)
        return changed

    async def due(self, now: datetime, *, limit: int) -> list[SessionRecord]:
        at = require_aware(now)
        self._now("due")
        return self._deadlines.due(at, limit, self._stored_record)

    def _stored_record(self, room_name: str) -> SessionRecord | None:
        stored = self._sessions.get(room_name)
        return None if stored is None else stored.record

    async def admit_session(self, record: SessionRecord, *, max_live: int, per_minute: int) -> Admission:
        require_limits(max_live, per_minute)
        now = self._now("admit_session")
        if not self._index.indexed:
            return Unindexed()
        if self._live(record.room_name, now) is not None:
            return RoomTaken()
        if per_minute and (retry_after := self._buckets.take(record.user_id, per_minute, now)):
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
        self._keep_until(stored, now + self._record_ttl_ms)
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
        ttl_ms, lease_ms = positive_milliseconds(ttl, "ttl"), positive_milliseconds(lease, "lease")
        now = self._now("claim_idempotency_key")
        live = lambda room_name: self._live(room_name, now) is not None  # noqa: E731
        return self._keys.claim(
            user_id, key, fingerprint, holder, now=now, ttl_ms=ttl_ms, lease_ms=lease_ms, live=live
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
        return self._marks.first_sighting(event_id, now=self._now("first_sighting"), ttl_ms=ttl_ms)

    async def acquire_lock(self, name: str, owner: str, *, lease: timedelta) -> bool:
        lease_ms = positive_milliseconds(lease, "lease")
        return self._marks.acquire_lock(name, owner, now=self._now("acquire_lock"), lease_ms=lease_ms)

    async def release_lock(self, name: str, owner: str) -> bool:
        return self._marks.release_lock(name, owner, now=self._now("release_lock"))

    # --- life cycle ---------------------------------------------------------------------

    async def ping(self) -> None:
        self._now("ping")

    async def open(self) -> None:
        return None

    async def aclose(self) -> None:
        self._closed = True
