"""The session store port: what voicecore remembers about live sessions, shared by replicas.

It holds, per user, the live sessions and the facts known about each (created,
user or agent joined or left, agents dispatched), and the primitives that need
one atomic step across replicas: admission behind the per-user cap and creation
rate, idempotency keys, event dedupe and a lock with a lease.

Every operation that must be atomic is one call here, so an adapter can make it
one server-side step. Every method raises ``StoreError`` when the backend fails
and ``ValueError`` for a meaningless argument (a lease of zero, a naive time).

Time. A store has one clock for all its expiries (records, claims, locks,
dedupe) and the rate limit, so a test can inject one; the Redis store defaults
to the Redis server's clock, the one clock every replica shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol, TypeAlias, runtime_checkable

from voicecore.core.session_record import SessionRecord

# How long a record is kept after its last change, when nothing removes it.
DEFAULT_RECORD_TTL: Final = timedelta(hours=24)


# --- Admission: a new session behind both guardrails, in one step -------------------


@dataclass(frozen=True, slots=True)
class RateLimited:
    """No creation token now; one will be there in at most ``retry_after_seconds`` (at least 1)."""

    retry_after_seconds: int


@dataclass(frozen=True, slots=True)
class SlotRefused:
    """The user already has ``live`` live sessions: the cap."""

    live: int


@dataclass(frozen=True, slots=True)
class Admitted:
    """The session is recorded (as by ``add_session``), and counts against the cap."""


@dataclass(frozen=True, slots=True)
class RoomTaken:
    """A session of that room is already recorded: nothing changed."""


@dataclass(frozen=True, slots=True)
class Unindexed:
    """The store holds no index rebuilt from LiveKit: nothing changed.

    It is new, was emptied, or is older than this replica has seen it (restored from a
    snapshot): the cap cannot be counted until the index is rebuilt (``begin_rebuild``,
    ``finish_rebuild``).
    """


Admission: TypeAlias = Admitted | RoomTaken | RateLimited | SlotRefused | Unindexed


# --- Idempotency keys --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    """The caller holds the key: create, then complete it, or release it on failure."""


@dataclass(frozen=True, slots=True)
class InProgress:
    """Another holder with the same fingerprint is creating right now."""


@dataclass(frozen=True, slots=True)
class Completed:
    """The key already made this session, and it is still live."""

    room_name: str


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The key is in use with a different fingerprint (another request body)."""


Claim: TypeAlias = Claimed | InProgress | Completed | Mismatch


@runtime_checkable
class SessionStore(Protocol):
    # --- live sessions and their facts ---------------------------------------

    async def add_session(self, record: SessionRecord) -> bool:
        """Record a new live session; False (and nothing changes) if one of that room is recorded."""
        ...

    async def get_session(self, room_name: str) -> SessionRecord | None: ...

    async def user_sessions(self, user_id: str) -> list[SessionRecord]:
        """The user's live sessions, oldest first."""
        ...

    async def all_sessions(self) -> list[SessionRecord]:
        """Every live session, oldest first (for reconciliation)."""
        ...

    async def count_sessions(self) -> int:
        """How many live sessions there are: ``len(all_sessions())``, without reading any of them.

        Kept as a count by the steps that add, change and forget records, so its cost
        does not grow with the sessions (the /metrics gauge asks on every scrape).
        """
        ...

    async def remove_session(self, room_name: str) -> SessionRecord | None:
        """Forget the session (freeing its place under the cap); of concurrent callers exactly one gets it."""
        ...

    async def remove_sessions(self, room_names: Sequence[str]) -> list[SessionRecord]:
        """``remove_session`` of each name, in one step; the records removed, in the names' order.

        For the index repair, which may forget thousands at once: one call, not one each.
        """
        ...

    async def note_participant(
        self, room_name: str, *, agent: bool, joined: bool, at: datetime
    ) -> SessionRecord | None:
        """Note that the user (or an agent) joined or left at ``at``; None for an unknown room."""
        ...

    async def count_dispatch(self, room_name: str, *, at: datetime, limit: int) -> int | None:
        """Take one of the session's ``limit`` re-dispatches, sent at ``at``, in one step.

        The new count, and ``at`` kept as the session's ``redispatched_at`` (the later
        one stays); 0 if ``limit`` are counted already (nothing changes); None for an
        unknown room. One budget per session, whoever asks, on any replica.
        """
        ...

    async def set_ends_at(self, ends: Mapping[str, datetime | None], *, tighten: bool) -> list[SessionRecord]:
        """Give recorded sessions their ``ends_at`` (unknown rooms are skipped), in one step.

        ``tighten``: keep the sooner of the old and the new (None changes nothing), so
        that starts racing for one user's allowance keep the soonest deadline any of
        them computed. Otherwise the new one replaces the old (None removes it).
        Returns the records whose ``ends_at`` changed, as now stored (their rooms' agents are told).
        """
        ...

    async def due(self, now: datetime, *, limit: int) -> list[SessionRecord]:
        """Up to ``limit`` sessions whose ``ends_at`` is at or before ``now``, soonest first."""
        ...

    async def admit_session(self, record: SessionRecord, *, max_live: int, per_minute: int) -> Admission:
        """``add_session`` behind the creation guardrails, in one atomic step (0 turns a check off).

        Checked in order, the first refusal answers: a store without a rebuilt index
        is ``Unindexed``; a room already recorded is ``RoomTaken``; past the user's
        creation rate, ``RateLimited`` (a token bucket ``per_minute`` deep, refilled
        evenly); at ``max_live`` live sessions, ``SlotRefused``. The first three change
        nothing; ``SlotRefused`` keeps the token it took, so retrying at the cap still
        spends the user's rate.
        """
        ...

    async def begin_rebuild(self, rebuild_id: str, *, lease: timedelta) -> bool:
        """Note that a rebuild of the index from LiveKit starts; True if the store has an index already.

        The note lives for ``lease``, and only as long as the store keeps its memory.
        """
        ...

    async def finish_rebuild(self, rebuild_id: str) -> bool:
        """The index is rebuilt: admissions go ahead from now on.

        False, and nothing changes, when ``begin_rebuild``'s note is gone: the store
        lost its memory (or the lease ran out) since, and the rebuild must start again.
        """
        ...

    # --- idempotency keys ---------------------------------------------------------

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
        """Claim the user's key for ``holder``, or say who has it.

        A key is remembered for ``ttl`` from its claim. An unfinished claim lapses
        after ``lease`` (its holder may have died); a completed key whose session
        has ended, or a released one, can be claimed again with any fingerprint.
        """
        ...

    async def complete_idempotency_key(self, user_id: str, key: str, *, holder: str, room_name: str) -> bool:
        """Point the holder's claim at the session it made (after ``add_session``).

        False if the key is not (or no longer) claimed by ``holder``.
        """
        ...

    async def release_idempotency_key(self, user_id: str, key: str, *, holder: str) -> bool:
        """Give up the holder's unfinished claim (the create failed); False if it had none."""
        ...

    async def forget_idempotency_keys(self, user_id: str) -> int:
        """Drop every idempotency key of the user (their account is being deleted); how many there were."""
        ...

    # --- event dedupe and the lock -------------------------------------------------

    async def first_sighting(self, event_id: str, *, ttl: timedelta) -> bool:
        """True the first time ``event_id`` is seen within ``ttl``, False for a repeat."""
        ...

    async def acquire_lock(self, name: str, owner: str, *, lease: timedelta) -> bool:
        """Take the lock, or renew it if ``owner`` holds it; False while another owner's lease runs."""
        ...

    async def release_lock(self, name: str, owner: str) -> bool:
        """Release the lock if ``owner`` holds it; False if it does not (any more)."""
        ...

    # --- life cycle -----------------------------------------------------------------

    async def ping(self) -> None:
        """Return if the store answers; raise StoreError if not."""
        ...

    async def aclose(self) -> None:
        """Release the store's resources; later calls raise StoreError."""
        ...


def require_room_name(room_name: str) -> str:
    if not room_name:
        raise ValueError("room_name must not be empty")
    return room_name


def positive_milliseconds(duration: timedelta, what: str) -> int:
    """A duration in whole milliseconds (the stores' resolution); at least 1 ms."""
    milliseconds = duration // timedelta(milliseconds=1)
    if milliseconds < 1:
        raise ValueError(f"{what} must be at least one millisecond")
    return milliseconds


def require_limits(max_live: int, per_minute: int) -> None:
    if max_live < 0 or per_minute < 0:
        raise ValueError("max_live and per_minute cannot be negative (0 turns a check off)")
