"""The session journal port: the durable record of every session, live and ended, on the customer's database.

The session store holds what is hot and short-lived (the live index, admission,
idempotency keys, locks); the journal holds what must last: one record per
session, from its start to its end and after. Neither imitates the other.

Every change to a record is one transaction: ``change`` reads the record under a
lock (a row lock, or SQLite's write lock), hands it to a pure function of the
core's (core/history.py) that decides what the change is, and writes what it
returns. So the policy is Python, in one place, and the atomicity is the
database's, across replicas. Every method raises ``JournalUnavailable`` when the
database cannot be reached, and nothing else for a database failure.

Times are aware datetimes, kept to the microsecond.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable


class EndReason(StrEnum):
    """Why a session ended: a closed set, documented for clients (docs/http-api.md)."""

    USER_ENDED = "user_ended"  # the owner ended it, through HTTP or the library
    ROOM_CLOSED = "room_closed"  # LiveKit closed the room after everyone left (empty or departure timeout)
    UNOBSERVED = "unobserved"  # the room vanished while no replica watched; the end time is a bound
    MAX_DURATION = "max_duration"  # the server ended it at the maximum session length
    USAGE_EXHAUSTED = "usage_exhausted"  # the server ended it when the user's minute allowance ran out


@dataclass(frozen=True, slots=True)
class JournalRecord:
    """One session, as the journal keeps it. ``ended_at`` and ``end_reason`` are None while live."""

    room_name: str
    user_id: str
    agent_type: str
    created_at: datetime
    agent_joined_at: datetime | None = None  # the agent's first join
    ended_at: datetime | None = None
    end_reason: EndReason | None = None
    end_approximate: bool = False  # ended_at is the best bound known, not the moment seen
    rejoins: int = 0
    dispatches: int = 0  # agent dispatches sent, the one at creation included
    events_sent: int = 0  # the per-session sequence number of the latest app event

    @property
    def live(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True, slots=True)
class AppEvent:
    """One event for the app's backend, committed with the change it reports (the outbox)."""

    event_id: str  # the Standard Webhooks ``webhook-id``: stable across retries
    room_name: str
    user_id: str
    sequence: int  # per session, from 1
    type: str
    created_at: datetime
    body: str  # the JSON payload, exactly as it will be signed and sent


@dataclass(frozen=True, slots=True)
class JournalChange:
    """What one transaction writes: the record as it now is, the events it reports, and usage.

    ``usage`` is what the change adds to the user's usage per UTC day, in milliseconds
    (``(day, ms)``, days since 1970; a correction may subtract). Usage is kept apart from
    the records, so erasing history never resets a meter.
    """

    record: JournalRecord
    events: tuple[AppEvent, ...] = ()
    usage: tuple[tuple[int, int], ...] = ()


Decide = Callable[[JournalRecord], JournalChange | None]
"""A pure function of the record under lock: the change to write, or None for none."""


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """One page of a user's history, newest first (by ``created_at``, then ``room_name``)."""

    user_id: str
    limit: int
    after: tuple[datetime, str] | None = None  # the (created_at, room_name) of the last item seen
    agent_type: str | None = None
    end_reason: EndReason | None = None
    since: datetime | None = None  # created_at >= since
    until: datetime | None = None  # created_at < until


@dataclass(frozen=True, slots=True)
class Erasure:
    """What erasing a user removed from the journal."""

    records: int = 0
    undelivered_events: int = 0


@runtime_checkable
class SessionJournal(Protocol):
    async def open(self) -> None:
        """Connect, and check (or, where allowed, bring up to date) the schema.

        Raises ``JournalSchemaOutdated`` naming the command to run when the
        database's schema is older than this code's and may not be migrated here.
        """
        ...

    async def aclose(self) -> None: ...

    async def ping(self) -> None:
        """Return if the database answers; raise JournalUnavailable if not."""
        ...

    async def start(self, change: JournalChange) -> bool:
        """Record a new session and its events; False (and nothing written) if its room is recorded."""
        ...

    async def change(self, room_name: str, decide: Decide) -> JournalRecord | None:
        """Apply ``decide`` to the room's record under lock; the record as written, None if unknown.

        When ``decide`` answers None nothing is written and the record is returned as it is.
        """
        ...

    async def get(self, room_name: str) -> JournalRecord | None: ...

    async def known(self, room_names: Sequence[str]) -> set[str]:
        """Which of these rooms have a record, live or ended."""
        ...

    async def live(self, user_id: str | None = None) -> list[JournalRecord]:
        """Every record still live (of ``user_id``, when given), oldest first: the repair, the deadlines."""
        ...

    async def history(self, query: HistoryQuery) -> list[JournalRecord]:
        """Up to ``query.limit`` of the user's records after ``query.after``, newest first."""
        ...

    async def usage_days(self, user_id: str, first_day: int, end_day: int) -> list[tuple[int, int]]:
        """The user's usage per UTC day, ``first_day`` to ``end_day`` (not included): ``(day, ms)``."""
        ...

    async def erase_ended(self, user_id: str) -> int:
        """Delete the user's ended records; live ones stay. How many were deleted."""
        ...

    async def erase_user(self, user_id: str) -> Erasure:
        """Delete every record of the user, their undelivered events and their usage (account deletion)."""
        ...

    async def purge_ended_before(self, moment: datetime) -> int:
        """Delete records that ended before ``moment`` (retention). How many were deleted."""
        ...


def with_events(
    record: JournalRecord, *events: AppEvent, usage: tuple[tuple[int, int], ...] = ()
) -> JournalChange:
    """The change that writes ``record`` and ``events``, the record's sequence moved past them."""
    if not events:
        return JournalChange(record, usage=usage)
    sent = max(e.sequence for e in events)
    return JournalChange(replace(record, events_sent=sent), tuple(events), usage)
