"""Room metadata: what voicecore writes on each room it creates, and the ownership rule read from it.

A room is a voice session when its metadata is readable and its name was made
for the user that metadata names; its owner is then ``metadata.user_id``. The
session store's and the journal's records of a session are built from it here, once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from voicecore.core.domain import AgentType, SessionMode, parse_agent_type
from voicecore.core.errors import MetadataNotReadable
from voicecore.core.journal import JournalRecord
from voicecore.core.naming import room_name_user_id
from voicecore.core.session_record import SessionRecord

METADATA_SCHEMA_VERSION: Final = 1
_METADATA_KEYS: Final = frozenset({"v", "user_id", "agent_type", "mode", "created_at"})
# Written only when the session has a bound: an agent reads when it will be cut, to say goodbye.
# And the allowance it was started under, so the record a repair rebuilds keeps its bound.
_OPTIONAL_KEYS: Final = frozenset({"ends_at", "allowance_seconds"})


@dataclass(frozen=True, slots=True)
class RoomMetadata:
    user_id: str
    agent_type: AgentType
    mode: SessionMode
    created_at: datetime  # aware, UTC
    # When the server will end the session (docs/livekit.md), rewritten when it moves; None: no bound.
    ends_at: datetime | None = None
    allowance_seconds: int | None = None  # the user's allowance per period when it started; None: none

    @classmethod
    def of_record(cls, record: SessionRecord) -> RoomMetadata:
        """The metadata the session's room carries, with the record's current ``ends_at``."""
        return cls(
            record.user_id,
            parse_agent_type(record.agent_type),
            SessionMode.VOICE,
            record.created_at,
            ends_at=record.ends_at,
            allowance_seconds=record.allowance_seconds,
        )

    def session_record(self, room_name: str) -> SessionRecord:
        """The session store's record of the session in ``room_name``, as at its creation."""
        return SessionRecord(
            room_name,
            self.user_id,
            self.agent_type.value,
            self.created_at,
            ends_at=self.ends_at,
            allowance_seconds=self.allowance_seconds,
        )

    def journal_record(self, room_name: str, *, dispatches: int = 0) -> JournalRecord:
        """The journal's record of the session in ``room_name``, as at its creation."""
        return JournalRecord(
            room_name, self.user_id, self.agent_type.value, self.created_at, dispatches=dispatches
        )

    def encode(self) -> str:
        fields: dict[str, object] = {
            "v": METADATA_SCHEMA_VERSION,
            "user_id": self.user_id,
            "agent_type": self.agent_type.value,
            "mode": self.mode.value,
            "created_at": self.created_at.astimezone(UTC).isoformat(),
        }
        if self.ends_at is not None:
            fields["ends_at"] = self.ends_at.astimezone(UTC).isoformat()
        if self.allowance_seconds is not None:
            fields["allowance_seconds"] = self.allowance_seconds
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str) -> RoomMetadata:
        """Parse metadata written by ``encode``; anything else is MetadataNotReadable."""
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
            raise MetadataNotReadable("not JSON") from exc
        if not isinstance(data, dict) or not _METADATA_KEYS <= set(data) <= _METADATA_KEYS | _OPTIONAL_KEYS:
            raise MetadataNotReadable("not a voicecore metadata object")
        if type(data["v"]) is not int or data["v"] != METADATA_SCHEMA_VERSION:
            raise MetadataNotReadable("unknown schema version")
        user_id, agent_type, mode, created_at = (
            data["user_id"],
            data["agent_type"],
            data["mode"],
            data["created_at"],
        )
        if not all(isinstance(v, str) for v in (user_id, agent_type, mode, created_at)):
            raise MetadataNotReadable("a field has the wrong type")
        try:
            parsed_agent_type = AgentType(agent_type)
            parsed_mode = SessionMode(mode)
            parsed_created_at = datetime.fromisoformat(created_at)
        except ValueError as exc:
            raise MetadataNotReadable("a field has an unknown value") from exc
        return cls(
            user_id=user_id,
            agent_type=parsed_agent_type,
            mode=parsed_mode,
            created_at=_moment(parsed_created_at, "created_at"),
            ends_at=None if "ends_at" not in data else _moment(_parsed(data["ends_at"]), "ends_at"),
            allowance_seconds=_allowance(data.get("allowance_seconds")),
        )


def _allowance(value: object) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise MetadataNotReadable("a field has the wrong type")
    return value


def _parsed(value: object) -> datetime:
    if not isinstance(value, str):
        raise MetadataNotReadable("a field has the wrong type")
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise MetadataNotReadable("a field has an unknown value") from exc


def _moment(parsed: datetime, name: str) -> datetime:
    if parsed.tzinfo is None:
        raise MetadataNotReadable(f"{name} has no UTC offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00+01:00
        raise MetadataNotReadable(f"{name} is out of range") from exc


def owner_of(raw_metadata: str) -> RoomMetadata | None:
    """The metadata of a voicecore room, or None: such a room belongs to nobody."""
    try:
        return RoomMetadata.decode(raw_metadata)
    except MetadataNotReadable:
        return None


def session_metadata(room_name: str, raw_metadata: str) -> RoomMetadata | None:
    """The metadata of a voice session, or None if the room is not one.

    A room is a voice session when its metadata is readable and its name was made
    for the user that metadata names. Its owner is then ``metadata.user_id``: the
    name never grants anything, it can only disqualify.
    """
    metadata = owner_of(raw_metadata)
    if metadata is None or room_name_user_id(room_name) != metadata.user_id:
        return None
    return metadata
