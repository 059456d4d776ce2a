"""LiveKit's webhook events, as the core sees them, and what they change in the session store and journal.

LiveKit stays the truth; events only keep the store's index and facts fresh
between reconciliations. Delivery is not guaranteed and order holds only per
room, so every change here is idempotent and order-free: the store keeps the
latest time of each kind of event, adding a known session or removing a gone one
twice changes nothing, and each event id is applied once (dedupe).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Protocol, runtime_checkable

from voicecore.core.history import SessionEnd
from voicecore.core.journal import EndReason
from voicecore.core.log_context import LogContext
from voicecore.core.metadata import session_metadata
from voicecore.core.metrics import NO_METRICS, Metrics
from voicecore.core.recorder import SessionRecorder
from voicecore.core.replica_work import END_LOCK_LEASE, end_lock
from voicecore.core.session_record import SessionRecord
from voicecore.core.store import DEFAULT_RECORD_TTL, SessionStore

logger = logging.getLogger(__name__)

# LiveKit gives up on an event after 30 s; ids are remembered well past any retry.
EVENT_ID_MEMORY: Final = timedelta(minutes=10)


class RoomEventKind(StrEnum):
    ROOM_STARTED = "room_started"
    ROOM_FINISHED = "room_finished"
    PARTICIPANT_JOINED = "participant_joined"
    PARTICIPANT_LEFT = "participant_left"
    PARTICIPANT_CONNECTION_ABORTED = "participant_connection_aborted"


@dataclass(frozen=True, slots=True)
class RoomEvent:
    id: str
    kind: RoomEventKind | str  # a kind voicecore does not handle stays a plain string
    room_name: str
    room_metadata: str
    created_at: datetime  # aware
    participant_identity: str | None = None
    participant_is_agent: bool = False


@runtime_checkable
class WebhookVerifier(Protocol):
    def verify(self, body: bytes, authorization: str) -> RoomEvent:
        """The event, if LiveKit signed these exact bytes; raises WebhookNotVerified or WebhookNotReadable.

        The signature is checked first, on the bytes as received: whatever an unsigned
        request carries, it learns only that it is not verified.
        """
        ...


class SessionEvents:
    """Applies verified room events to the session store."""

    def __init__(self, store: SessionStore, recorder: SessionRecorder, metrics: Metrics = NO_METRICS) -> None:
        self._store = store
        self._recorder = recorder
        self._metrics = metrics

    async def handle(self, event: RoomEvent) -> bool:
        """Apply ``event``; False if it was seen before (or is of a kind voicecore ignores)."""
        if event.kind not in set(RoomEventKind) or not event.room_name:
            return False
        if not await self._store.first_sighting(event.id, ttl=EVENT_ID_MEMORY):
            return False
        context = LogContext(room_name=event.room_name, operation=str(event.kind))
        match event.kind:
            case RoomEventKind.ROOM_STARTED:
                await self._index(event)
            case RoomEventKind.ROOM_FINISHED:
                await self._store.remove_session(event.room_name)
                await self._room_closed(event)
            case _:
                joined = event.kind == RoomEventKind.PARTICIPANT_JOINED
                noted = await self._store.note_participant(
                    event.room_name, agent=event.participant_is_agent, joined=joined, at=event.created_at
                )
                # Before its room_started (no order across kinds): index the session, then note.
                if noted is None and await self._index(event):
                    await self._store.note_participant(
                        event.room_name, agent=event.participant_is_agent, joined=joined, at=event.created_at
                    )
                if joined and event.participant_is_agent:
                    await self._agent_arrived(event, noted)
        logger.debug("room event applied", extra=context)
        return True

    async def _room_closed(self, event: RoomEvent) -> None:
        """Record that LiveKit closed the room, unless someone ended it (they record their own reason).

        LiveKit sends room_finished for a room voicecore deleted too; whoever deletes
        a room holds its end lock, so the lock tells the two apart.
        """
        if session_metadata(event.room_name, event.room_metadata) is None:
            return
        if await self._store.acquire_lock(end_lock(event.room_name), uuid.uuid4().hex, lease=END_LOCK_LEASE):
            await self._recorder.ended(event.room_name, SessionEnd(event.created_at, EndReason.ROOM_CLOSED))

    async def _index(self, event: RoomEvent) -> bool:
        """Add the event's room to the index if it is a voice session; True if it is one."""
        metadata = session_metadata(event.room_name, event.room_metadata)
        if metadata is None:
            return False
        await self._store.add_session(metadata.session_record(event.room_name))
        return True

    async def _agent_arrived(self, event: RoomEvent, record: SessionRecord | None) -> None:
        """Time from creation to the session's first agent, once per session on any replica."""
        await self._recorder.agent_joined(event.room_name, event.created_at)
        if record is None:
            record = await self._store.get_session(event.room_name)
        if record is not None and await self._store.first_sighting(
            f"agent-arrived:{event.room_name}", ttl=DEFAULT_RECORD_TTL
        ):
            self._metrics.agent_joined((event.created_at - record.created_at).total_seconds())
