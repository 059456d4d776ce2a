"""The voice-session use cases: start, status, end and list, with ownership rules.

LiveKit is the truth; the session store is an index of each user's sessions (so
a listing never scans other users' rooms) and the arbiter of exactly-once ends
across replicas. A listing confirms every indexed name with LiveKit.

Ownership is the room metadata's ``user_id``, compared exactly; the name never
grants anything. A room is a voice session only if its metadata is readable and
its name was made for the user that metadata names; any other room belongs to
nobody and is reported as not found, as is any name voicecore could never have
made (checked before the gateway is called). status, end and list share this rule.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from voicecore.core.aio import all_or_first_error
from voicecore.core.domain import (
    AgentType,
    RoomMetadata,
    SessionMode,
    SessionPolicy,
    User,
    parse_agent_type,
    session_metadata,
    utc_now,
)
from voicecore.core.errors import GatewayError, NotSessionOwner, SessionNotFound
from voicecore.core.log_context import LogContext
from voicecore.core.naming import can_name_rooms, new_room_name, room_name_user_id
from voicecore.core.orphans import OrphanSafeCreator
from voicecore.core.ports import (
    AgentDispatch,
    Participant,
    ParticipantKind,
    Room,
    RoomGateway,
    RoomSpec,
    TokenIssuer,
)
from voicecore.core.reconcile import INDEX_GRACE
from voicecore.core.store import SessionRecord, SessionStore

logger = logging.getLogger(__name__)

# A fresh 64-bit name colliding with an existing room is astronomically unlikely;
# a few attempts turn "unlikely" into "never" without looping forever.
_CREATE_ATTEMPTS = 3
# An end holds this lock, and keeps it once the room is deleted: any other end of the
# same room meanwhile, on any replica, is "not found" without a second DeleteRoom.
_END_LOCK_LEASE = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class StartedSession:
    """Everything a client needs to connect: ``livekit_url`` and ``token``, for ``room_name``."""

    room_name: str
    token: str
    livekit_url: str
    expires_at: datetime  # the token's exp
    agent_type: AgentType
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SessionStatus:
    room_name: str
    active: bool
    participant_count: int
    agent_connected: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SessionSummary:
    room_name: str
    agent_type: AgentType
    participant_count: int
    created_at: datetime


class VoiceSessions:
    """The four use cases over one room gateway and one token issuer.

    Every method may also raise ``GatewayError`` when LiveKit fails or does not answer.
    """

    def __init__(
        self,
        gateway: RoomGateway,
        token_issuer: TokenIssuer,
        policy: SessionPolicy | None = None,
        *,
        store: SessionStore,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._gateway = gateway
        self._tokens = token_issuer
        self._policy = policy or SessionPolicy()
        self._store = store
        self._clock = clock
        self._creator = OrphanSafeCreator(gateway, sleep)

    async def start(self, user: User, agent_type: AgentType | str = AgentType.GENERAL) -> StartedSession:
        """Create a room for ``user`` and a token that joins only it.

        ``agent_type`` may be given as its value (``"diet"``). Raises ``InvalidUserId``
        or ``UnknownAgentType`` before anything is created.
        """
        kind = parse_agent_type(agent_type)
        for _ in range(_CREATE_ATTEMPTS):
            room_name = new_room_name(user.id)  # raises InvalidUserId before anything is made
            metadata = RoomMetadata(
                user_id=user.id, agent_type=kind, mode=SessionMode.VOICE, created_at=self._clock()
            )
            # The token is minted before the room exists, so a failure here
            # cannot leave a room behind.
            issued = self._tokens.issue(user, room_name, self._policy.token_ttl)
            spec = RoomSpec(
                name=room_name,
                metadata=metadata.encode(),
                empty_timeout_seconds=self._policy.empty_timeout_seconds,
                max_participants=self._policy.max_participants,
                agent_dispatch=self._dispatch_for(user, kind, room_name),
            )
            # Indexed before the room exists: the room's first webhooks (the agent
            # joining) find the record. A name already indexed is a collision.
            record = SessionRecord(room_name, user.id, kind.value, metadata.created_at)
            if not await self._store.add_session(record):
                continue
            try:
                room = await self._creator.create(spec)
            except GatewayError:
                await self._store.remove_session(room_name)
                raise
            # LiveKit returns an existing room of the same name unchanged: only a
            # room carrying exactly our metadata is the one we just made.
            if room.metadata == spec.metadata:
                logger.info(
                    "voice session created",
                    extra=LogContext(user_id=user.id, room_name=room_name, agent_type=kind.value),
                )
                return StartedSession(
                    room_name=room_name,
                    token=issued.token,
                    livekit_url=issued.server_url,
                    expires_at=issued.expires_at,
                    agent_type=kind,
                    created_at=metadata.created_at,
                )
            await self._store.remove_session(room_name)
            logger.warning("room name already taken, drawing another", extra=LogContext(room_name=room_name))
        raise GatewayError("create_room", None, "could not obtain a fresh room name")

    async def status(self, user: User, room_name: str) -> SessionStatus:
        """Who is in ``user``'s session now.

        Raises ``SessionNotFound`` (missing, or not a voice session) or ``NotSessionOwner``.
        """
        # Metadata and participants are fetched together; participants of a room
        # that turns out not to be the caller's are dropped unread.
        metadata, participants = await self._owned_with_participants(user, room_name)
        status = SessionStatus(
            room_name=room_name,
            active=len(participants) > 0,
            participant_count=len(participants),
            agent_connected=any(p.kind is ParticipantKind.AGENT for p in participants),
            created_at=metadata.created_at,
        )
        logger.info(
            "voice session status queried",
            extra=LogContext(
                user_id=user.id,
                room_name=room_name,
                agent_type=metadata.agent_type.value,
                participant_count=status.participant_count,
                agent_connected=status.agent_connected,
            ),
        )
        return status

    async def end(self, user: User, room_name: str) -> None:
        """Delete ``user``'s session; everyone in it is disconnected.

        Raises ``SessionNotFound`` (also to every caller but one when ends race, on
        any replica) or ``NotSessionOwner``; ``StoreError`` if the store fails.
        """
        metadata = await self._owned(user, room_name)
        lock, holder = f"end:{room_name}", uuid.uuid4().hex
        if not await self._store.acquire_lock(lock, holder, lease=_END_LOCK_LEASE):
            raise SessionNotFound(room_name)  # another end has it, or has just deleted it
        try:
            if not await self._gateway.delete_room(room_name):
                raise SessionNotFound(room_name)
        except BaseException:
            await self._store.release_lock(lock, holder)
            raise
        await self._store.remove_session(room_name)
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
        records = await self._store.user_sessions(user.id)
        rooms = {room.name: room for room in await self._gateway.get_rooms([r.room_name for r in records])}
        owned: list[tuple[Room, RoomMetadata]] = []
        for name, room in rooms.items():
            metadata = session_metadata(name, room.metadata)
            if metadata is not None and metadata.user_id == user.id:
                owned.append((room, metadata))
        settled = self._clock() - INDEX_GRACE
        gone = [r.room_name for r in records if r.room_name not in rooms and r.created_at < settled]
        participant_lists, _ = await asyncio.gather(
            all_or_first_error(*(self._gateway.list_participants(room.name) for room, _ in owned)),
            all_or_first_error(*(self._store.remove_session(name) for name in gone)),
        )
        sessions = sorted(
            (
                SessionSummary(
                    room_name=room.name,
                    agent_type=metadata.agent_type,
                    participant_count=len(participants),
                    created_at=metadata.created_at,
                )
                for (room, metadata), participants in zip(owned, participant_lists, strict=True)
            ),
            key=lambda s: (s.created_at, s.room_name),
            reverse=True,
        )
        logger.info("voice sessions listed", extra=LogContext(user_id=user.id, session_count=len(sessions)))
        return sessions

    @property
    def cleanups_pending(self) -> int:
        return self._creator.pending

    async def aclose(self) -> None:
        """Cancel background cleanups (at shutdown); empty_timeout covers what they leave."""
        await self._creator.aclose()

    # --- ownership ---------------------------------------------------------

    async def _owned(self, user: User, room_name: str) -> RoomMetadata:
        if room_name_user_id(room_name) is None:
            raise SessionNotFound(room_name)
        room = await self._gateway.get_room(room_name)
        return self._check_owner(user, room_name, room)

    async def _owned_with_participants(
        self, user: User, room_name: str
    ) -> tuple[RoomMetadata, Sequence[Participant]]:
        if room_name_user_id(room_name) is None:
            raise SessionNotFound(room_name)
        room, participants = await asyncio.gather(
            self._gateway.get_room(room_name),
            self._gateway.list_participants(room_name),
            return_exceptions=True,
        )
        if isinstance(room, BaseException):
            raise room
        metadata = self._check_owner(user, room_name, room)  # ownership before a participants failure
        if isinstance(participants, BaseException):
            raise participants
        return metadata, participants

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

    def _dispatch_for(self, user: User, agent_type: AgentType, room_name: str) -> AgentDispatch | None:
        if not self._policy.agent_name:
            return None
        payload = {"user_id": user.id, "agent_type": agent_type.value, "room_name": room_name}
        return AgentDispatch(agent_name=self._policy.agent_name, metadata=json.dumps(payload))
