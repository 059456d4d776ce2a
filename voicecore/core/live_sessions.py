"""The use cases of a live session: rejoin, status, end and list, with the ownership rule.

LiveKit is the truth; the session store is an index of each user's sessions (so
a listing never scans other users' rooms) and the arbiter of exactly-once ends
across replicas. A listing confirms every indexed name with LiveKit.

Ownership is the room metadata's ``user_id``, compared exactly; the name never
grants anything. A room is a voice session only if its metadata is readable and
its name was made for the user that metadata names; any other room belongs to
nobody and is reported as not found, as is any name voicecore could never have
made (checked before the gateway is called).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Final, TypeAlias, TypeVar, cast

from voicecore.core.agents import AgentPresence, Redispatch
from voicecore.core.domain import SessionPolicy, User
from voicecore.core.errors import NotSessionOwner, SessionNotFound
from voicecore.core.history import SessionEnd
from voicecore.core.index import confirmed_rooms
from voicecore.core.journal import EndReason
from voicecore.core.log_context import LogContext
from voicecore.core.metadata import RoomMetadata, session_metadata
from voicecore.core.metrics import Metrics
from voicecore.core.naming import can_name_rooms, room_name_user_id
from voicecore.core.ports import Participant, ParticipantKind, Room, RoomGateway, TokenIssuer
from voicecore.core.recorder import SessionRecorder
from voicecore.core.replica_work import END_LOCK_LEASE, end_lock, lock_if_free
from voicecore.core.room_reads import failed_read_of, participants_of_rooms
from voicecore.core.session_record import SessionRecord
from voicecore.core.store import SessionStore
from voicecore.core.views import SessionStatus, SessionSummary, StartedSession, started_session

logger = logging.getLogger(__name__)

T = TypeVar("T")

_REJOIN_LOCK_LEASE: Final = timedelta(seconds=30)

_Owned: TypeAlias = tuple[Room, RoomMetadata, SessionRecord]  # a listed session: its room, metadata, record


class LiveSessions:
    """Every method may also raise ``GatewayError`` (LiveKit) and ``StoreError`` (the session store)."""

    def __init__(
        self,
        gateway: RoomGateway,
        tokens: TokenIssuer,
        policy: SessionPolicy,
        *,
        store: SessionStore,
        recorder: SessionRecorder,
        presence: AgentPresence,
        clock: Callable[[], datetime],
        metrics: Metrics,
    ) -> None:
        self._gateway = gateway
        self._tokens = tokens
        self._policy = policy
        self._store = store
        self._recorder = recorder
        self._presence = presence
        self._clock = clock
        self._metrics = metrics

    async def rejoin(self, user: User, room_name: str) -> StartedSession:
        """A fresh token for ``user``'s own live session, with the same grants and lifetime as start.

        With an agent name configured, an agent is dispatched again when none is in the
        room and none is on its way: LiveKit does not re-dispatch when a user comes back.
        Raises ``SessionNotFound`` (missing, ended, or not a voice session) or
        ``NotSessionOwner``; nothing is created either way.
        """
        metadata, participants, record = await self._owned(user, room_name)
        issued = self._tokens.issue(user, room_name, self._policy.token_ttl)
        # One rejoin at a time per room, on any replica, decides whether an agent is
        # needed: two racing rejoins must not dispatch one each.
        redispatched = Redispatch.NOT_NEEDED
        async with lock_if_free(self._store, f"rejoin:{room_name}", lease=_REJOIN_LOCK_LEASE) as held:
            if held:
                redispatched = await self._presence.redispatch_if_no_agent(
                    user, metadata.session_record(room_name), participants
                )
        await self._recorder.rejoined(room_name)
        if redispatched is Redispatch.SENT:
            await self._recorder.dispatched(room_name)
            self._metrics.agent_redispatched("rejoin")
        elif redispatched is Redispatch.REFUSED:
            self._metrics.agent_redispatch_refused("rejoin")
            logger.warning(
                "voice session rejoined with no agent; re-dispatch limit reached",
                extra=LogContext(user_id=user.id, room_name=room_name),
            )
        logger.info(
            "voice session rejoined",
            extra=LogContext(
                user_id=user.id,
                room_name=room_name,
                agent_type=metadata.agent_type.value,
                agent_dispatched=redispatched is Redispatch.SENT,
            ),
        )
        return started_session(
            issued, room_name, metadata.agent_type, metadata.created_at, _ends_at(metadata, record)
        )

    async def status(self, user: User, room_name: str) -> SessionStatus:
        """Who is in ``user``'s session now.

        Raises ``SessionNotFound`` (missing, or not a voice session) or ``NotSessionOwner``.
        """
        metadata, participants, record = await self._owned(user, room_name)
        status = SessionStatus(
            room_name=room_name,
            active=len(participants) > 0,
            participant_count=len(participants),
            agent_connected=any(p.kind is ParticipantKind.AGENT for p in participants),
            created_at=metadata.created_at,
            agent_state=await self._presence.state(room_name, participants, record, metadata.created_at),
            ends_at=_ends_at(metadata, record),
        )
        logger.info(
            "voice session status queried",
            extra=LogContext(
                user_id=user.id,
                room_name=room_name,
                agent_type=metadata.agent_type.value,
                participant_count=status.participant_count,
                agent_connected=status.agent_connected,
                agent_state=status.agent_state.value,
            ),
        )
        return status

    async def end(self, user: User, room_name: str) -> None:
        """Delete ``user``'s session; everyone in it is disconnected.

        Raises ``SessionNotFound`` (also to every caller but one when ends race, on
        any replica) or ``NotSessionOwner``; ``StoreError`` if the store fails.
        """
        metadata, _, _ = await self._owned(user, room_name, participants=False)
        lock, holder = end_lock(room_name), uuid.uuid4().hex
        # Kept once the room is deleted: another end meanwhile is "not found" without a DeleteRoom.
        if not await self._store.acquire_lock(lock, holder, lease=END_LOCK_LEASE):
            raise SessionNotFound(room_name)  # another end has it, or has just deleted it
        try:
            if not await self._gateway.delete_room(room_name):
                raise SessionNotFound(room_name)
        except BaseException:
            await self._store.release_lock(lock, holder)
            raise
        deleted_at = self._clock()
        await self._store.remove_session(room_name)
        await self._recorder.ended(room_name, SessionEnd(deleted_at, EndReason.USER_ENDED))
        logger.info(
            "voice session ended",
            extra=LogContext(user_id=user.id, room_name=room_name, agent_type=metadata.agent_type.value),
        )

    async def list(self, user: User) -> list[SessionSummary]:
        """``user``'s live sessions, newest first; empty if there are none.

        Reads the user's indexed names and confirms them with one LiveKit call, so
        its cost does not grow with other users' rooms. Names LiveKit no longer has
        are dropped (and, once settled, forgotten).
        """
        if not can_name_rooms(user.id):
            return []  # an id that cannot name a room owns nothing
        confirmed = await confirmed_rooms(user.id, self._store, self._gateway, self._clock)
        indexed: list[_Owned] = []
        for name, (room, record) in confirmed.items():
            metadata = session_metadata(name, room.metadata)
            if metadata is not None and metadata.user_id == user.id:
                indexed.append((room, metadata, record))
        read = await participants_of_rooms(self._gateway, user.id, [room.name for room, _, _ in indexed])
        owned = [session for session, present in zip(indexed, read, strict=True) if present is not None]
        participant_lists = [present for present in read if present is not None]
        states = await _all_or_first_error(
            *(
                self._presence.state(room.name, participants, record, metadata.created_at)
                for (room, metadata, record), participants in zip(owned, participant_lists, strict=True)
            )
        )
        sessions = sorted(
            (
                SessionSummary(
                    room_name=room.name,
                    agent_type=metadata.agent_type,
                    participant_count=len(participants),
                    created_at=metadata.created_at,
                    agent_connected=any(p.kind is ParticipantKind.AGENT for p in participants),
                    agent_state=state,
                    ends_at=_ends_at(metadata, record),
                )
                for (room, metadata, record), participants, state in zip(
                    owned, participant_lists, states, strict=True
                )
            ),
            key=lambda s: (s.created_at, s.room_name),
            reverse=True,
        )
        logger.info("voice sessions listed", extra=LogContext(user_id=user.id, session_count=len(sessions)))
        return sessions

    # --- ownership ---------------------------------------------------------

    async def _owned(
        self, user: User, room_name: str, *, participants: bool = True
    ) -> tuple[RoomMetadata, Sequence[Participant], SessionRecord | None]:
        """The session's metadata, if ``user`` owns it; unless asked not to, who is in it and its record.

        The room, its participants and the store's record are asked for together; what
        belongs to a room that turns out not to be the caller's is dropped unread.
        """
        if room_name_user_id(room_name) is None:
            raise SessionNotFound(room_name)
        if not participants:
            return self._check_owner(user, room_name, await self._gateway.get_room(room_name)), (), None
        room, present, record = await asyncio.gather(
            self._gateway.get_room(room_name),
            self._gateway.list_participants(room_name),
            self._store.get_session(room_name),
            return_exceptions=True,
        )
        if isinstance(room, BaseException):
            raise room
        metadata = self._check_owner(user, room_name, room)  # ownership before a participants failure
        if isinstance(present, BaseException):  # gone since (an end raced it): not found
            raise await failed_read_of(self._gateway, room_name, present)
        if isinstance(record, BaseException):
            raise record
        return metadata, present, record

    @staticmethod
    def _check_owner(user: User, room_name: str, room: Room | None) -> RoomMetadata:
        if room is None:
            raise SessionNotFound(room_name)
        metadata = session_metadata(room_name, room.metadata)
        if metadata is None:
            raise SessionNotFound(room_name)  # not a voice session: it belongs to nobody
        if metadata.user_id != user.id:
            logger.warning(
                "voice session access refused: not the owner",
                extra=LogContext(user_id=user.id, room_name=room_name),
            )
            raise NotSessionOwner(room_name, user.id)
        return metadata


def _ends_at(metadata: RoomMetadata, record: SessionRecord | None) -> datetime | None:
    """The store's deadline, kept current as the user's sessions come and go; else the room's own."""
    return record.ends_at if record is not None else metadata.ends_at


async def _all_or_first_error(*calls: Awaitable[T]) -> list[T]:
    """Like gather, but never leaves a sibling call running after a failure."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return cast(list[T], results)
