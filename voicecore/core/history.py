"""The journal's policy, as pure functions: how a record starts, ends and changes, and what the app is told.

Each ``Decide`` here is handed the record under the database's lock
(``SessionJournal.change``) and answers the change to write, so every rule is
Python, in one place, and property-tested with an injected clock.

How a session ends, whichever source says so first or twice (the owner, LiveKit's
``room_finished``, the server's bounds, the repair):

- a live record ends with the first end reported, and ``session.ended`` is sent once;
- an end the repair could only bound (``unobserved``, approximate) gives way to an
  exact one that arrives later, or to an earlier bound; the app is not told twice;
- an exact end never changes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

from voicecore.core.bounds import day_changes
from voicecore.core.domain import SessionPolicy
from voicecore.core.journal import AppEvent, Decide, EndReason, JournalChange, JournalRecord, with_events
from voicecore.core.session_record import SessionRecord


class EventType(StrEnum):
    SESSION_STARTED = "session.started"
    AGENT_JOINED = "session.agent_joined"
    AGENT_MISSING = "session.agent_missing"
    SESSION_ENDED = "session.ended"


@dataclass(frozen=True, slots=True)
class SessionEnd:
    at: datetime
    reason: EndReason
    approximate: bool = False


def timestamp(moment: datetime | None) -> str | None:
    """ISO 8601 with an explicit ``+00:00``, as every answer of the API writes times."""
    return None if moment is None else moment.astimezone(UTC).isoformat()


def duration_seconds(record: JournalRecord, now: datetime) -> float:
    """Wall time from creation to the end (or to ``now`` while live), to the millisecond; never negative."""
    end = record.ended_at or now
    return round(max(end - record.created_at, timedelta(0)).total_seconds(), 3)


def history_item(record: JournalRecord, now: datetime) -> dict[str, object]:
    """The record as the history API shows it (and as an event's ``data`` carries it)."""
    return {
        "room_name": record.room_name,
        "agent_type": record.agent_type,
        "created_at": timestamp(record.created_at),
        "ended_at": timestamp(record.ended_at),
        "end_reason": None if record.end_reason is None else record.end_reason.value,
        "end_approximate": record.end_approximate,
        "duration_seconds": duration_seconds(record, now),
        "agent_joined_at": timestamp(record.agent_joined_at),
        "active": record.live,
    }


def event_body(kind: EventType, record: JournalRecord, sequence: int, at: datetime) -> str:
    """The JSON an event carries: ``{"type", "timestamp", "data"}`` (docs/webhooks.md)."""
    data = {**history_item(record, at), "user_id": record.user_id, "sequence": sequence}
    return json.dumps(
        {"type": kind.value, "timestamp": timestamp(at), "data": data}, separators=(",", ":"), sort_keys=True
    )


@dataclass(frozen=True, slots=True)
class AppEvents:
    """Makes the app's events, or none when no endpoint is configured (then none are kept)."""

    enabled: bool
    clock: Callable[[], datetime]
    new_id: Callable[[], str] = lambda: f"evt_{uuid.uuid4().hex}"

    def make(self, kind: EventType, record: JournalRecord) -> tuple[AppEvent, ...]:
        """The event ``kind`` for ``record`` as it is after the change, numbered after its last."""
        if not self.enabled:
            return ()
        sequence, at = record.events_sent + 1, self.clock()
        body = event_body(kind, record, sequence, at)
        return (AppEvent(self.new_id(), record.room_name, record.user_id, sequence, kind.value, at, body),)


NO_APP_EVENTS: Final = AppEvents(enabled=False, clock=lambda: datetime.now(UTC))


def started(record: JournalRecord, events: AppEvents) -> JournalChange:
    """A new record, and ``session.started``."""
    return with_events(record, *events.make(EventType.SESSION_STARTED, record))


def ended(end: SessionEnd, events: AppEvents) -> Decide:
    """End the session (see the module's docstring for which end wins)."""

    def decide(record: JournalRecord) -> JournalChange | None:
        at = max(end.at, record.created_at)
        if record.live:
            closed = replace(record, ended_at=at, end_reason=end.reason, end_approximate=end.approximate)
            used = tuple(day_changes(None, (record.created_at, at)))
            return with_events(closed, *events.make(EventType.SESSION_ENDED, closed), usage=used)
        assert record.ended_at is not None
        if not record.end_approximate:
            return None
        if not end.approximate or at < record.ended_at:
            corrected = replace(record, ended_at=at, end_reason=end.reason, end_approximate=end.approximate)
            used = tuple(day_changes((record.created_at, record.ended_at), (record.created_at, at)))
            return JournalChange(corrected, usage=used)
        return None

    return decide


def agent_joined(at: datetime, events: AppEvents) -> Decide:
    """The agent's first join time (the earliest reported), and ``session.agent_joined`` once."""

    def decide(record: JournalRecord) -> JournalChange | None:
        first = record.agent_joined_at
        if first is not None and at >= first:
            return None
        joined = replace(record, agent_joined_at=max(at, record.created_at))
        if first is not None:
            return JournalChange(joined)  # an earlier report of a join already told
        return with_events(joined, *events.make(EventType.AGENT_JOINED, joined))

    return decide


def agent_missing(events: AppEvents) -> Decide:
    """``session.agent_missing``: the agent did not come within the join window after the last dispatch."""

    def decide(record: JournalRecord) -> JournalChange | None:
        missing = events.make(EventType.AGENT_MISSING, record)
        return with_events(record, *missing) if missing and record.live else None

    return decide


def counted(*, rejoins: int = 0, dispatches: int = 0) -> Decide:
    """One more rejoin or dispatch on the record."""

    def decide(record: JournalRecord) -> JournalChange:
        return JournalChange(
            replace(record, rejoins=record.rejoins + rejoins, dispatches=record.dispatches + dispatches)
        )

    return decide


def unobserved_end(
    record: JournalRecord, known: SessionRecord | None, policy: SessionPolicy, now: datetime
) -> datetime:
    """The best bound on when a room that vanished unseen closed: a moment by which it surely had.

    LiveKit closes a room ``departure_timeout`` after its last participant left; the
    session store's record, when it survived, says when they left (from LiveKit's
    webhooks). Short of that, the room had closed by ``now``. (A room nobody joined
    closes ``empty_timeout`` after creation, but "nobody joined" cannot be told from
    "the webhooks did not arrive", so that is no bound.)
    """
    bound = now
    if known is not None:
        joins = [t for t in (known.user_joined_at, known.agent_joined_at) if t is not None]
        leaves = [t for t in (known.user_left_at, known.agent_left_at) if t is not None]
        if joins and leaves and max(leaves) >= max(joins):
            bound = min(bound, max(leaves) + timedelta(seconds=policy.departure_timeout_seconds))
    return max(bound, record.created_at)
