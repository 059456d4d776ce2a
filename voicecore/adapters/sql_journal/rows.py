"""Records and events to table rows and back: the journal's only knowledge of its columns' formats."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import Row

from voicecore.core.journal import AppEvent, EndReason, JournalRecord
from voicecore.core.outbox import OutboxEvent
from voicecore.core.session_record import from_microseconds, to_microseconds

# An app event's states: pending until a try settles it, then delivered or dead.
PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"


def _micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_microseconds(moment)


def _moment(micros: int | None) -> datetime | None:
    return None if micros is None else from_microseconds(micros)


def record_row(record: JournalRecord) -> dict[str, Any]:
    return {
        "room_name": record.room_name,
        "user_id": record.user_id,
        "agent_type": record.agent_type,
        "created_at_us": to_microseconds(record.created_at),
        "agent_joined_at_us": _micros(record.agent_joined_at),
        "ended_at_us": _micros(record.ended_at),
        "end_reason": None if record.end_reason is None else record.end_reason.value,
        "end_approximate": record.end_approximate,
        "rejoins": record.rejoins,
        "dispatches": record.dispatches,
        "events_sent": record.events_sent,
    }


def record_of(row: Row[Any]) -> JournalRecord:
    values = row._mapping
    return JournalRecord(
        room_name=values["room_name"],
        user_id=values["user_id"],
        agent_type=values["agent_type"],
        created_at=from_microseconds(values["created_at_us"]),
        agent_joined_at=_moment(values["agent_joined_at_us"]),
        ended_at=_moment(values["ended_at_us"]),
        end_reason=None if values["end_reason"] is None else EndReason(values["end_reason"]),
        end_approximate=bool(values["end_approximate"]),
        rejoins=values["rejoins"],
        dispatches=values["dispatches"],
        events_sent=values["events_sent"],
    )


EVENT_COLUMNS: Final = (
    "event_id",
    "room_name",
    "user_id",
    "sequence",
    "type",
    "created_at_us",
    "body",
    "state",
    "attempts",
    "next_attempt_at_us",
)


def event_row(event: AppEvent) -> dict[str, Any]:
    """An event's row as written (its keys are EVENT_COLUMNS)."""
    created = to_microseconds(event.created_at)
    return {
        "event_id": event.event_id,
        "room_name": event.room_name,
        "user_id": event.user_id,
        "sequence": event.sequence,
        "type": event.type,
        "created_at_us": created,
        "body": event.body,
        "state": PENDING,
        "attempts": 0,
        "next_attempt_at_us": created,
    }


def outbox_event_of(row: Row[Any]) -> OutboxEvent:
    values = row._mapping
    event = AppEvent(
        event_id=values["event_id"],
        room_name=values["room_name"],
        user_id=values["user_id"],
        sequence=values["sequence"],
        type=values["type"],
        created_at=from_microseconds(values["created_at_us"]),
        body=values["body"],
    )
    return OutboxEvent(event, failed_tries=values["attempts"])
