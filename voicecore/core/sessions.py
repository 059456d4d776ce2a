"""The voice-session use cases: start, rejoin, status, end and list, with ownership rules.

Ownership is the room metadata's ``user_id``, compared exactly; the name never
grants anything. A room is a voice session only if its metadata is readable and
its name was made for the user that metadata names; any other room belongs to
nobody and is reported as not found, as is any name voicecore could never have
made (checked before the gateway is called). rejoin, status, end and list share this rule.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from voicecore.core.aio import KeyedLocks, all_or_first_error
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
    DispatchRecord,
    Participant,
    ParticipantKind,
    Room,
    RoomGateway,
    RoomSpec,
    TokenIssuer,
)

logger = logging.getLogger(__name__)

# A fresh 64-bit name colliding with an existing room is astronomically unlikely;
# a few attempts turn "unlikely" into "never" without looping forever.
_CREATE_ATTEMPTS = 3


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
    """The use cases over one room gateway and one token issuer.

    Every method may also raise ``GatewayError`` when LiveKit fails or does not answer.
    """

    def __init__(
        self,
        gateway: RoomGateway,
        token_issuer: TokenIssuer,
        policy: SessionPolicy | None = None,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._gateway = gateway
        self._tokens = token_issuer
        self._policy = policy or SessionPolicy()
        self._clock = clock
        self._creator = OrphanSafeCreator(gateway, sleep)
        # Ends of one room within this process are serialised so that exactly one
        # caller sees "ended" and the rest "not found", whatever the server does.
        self._end_locks = KeyedLocks()
        # Rejoins of one room within this process are serialised so that two of them
        # cannot both find no agent coming and dispatch one each.
        self._rejoin_locks = KeyedLocks()

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
                departure_timeout_seconds=self._policy.departure_timeout_seconds,
            )
            room = await self._creator.create(spec)
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
            logger.warning("room name already taken, drawing another", extra=LogContext(room_name=room_name))
        raise GatewayError("create_room", None, "could not obtain a fresh room name")

    async def rejoin(self, user: User, room_name: str) -> StartedSession:
        """A fresh token for ``user``'s own live session, with the same grants and lifetime as start.

        With an agent name configured, an agent is dispatched again when none is in the
        room and none is on its way: LiveKit does not re-dispatch when a user comes back.
        Raises ``SessionNotFound`` (missing, ended, or not a voice session) or
        ``NotSessionOwner``; nothing is created either way.
        """
        async with self._rejoin_locks.hold(room_name):
            metadata, participants = await self._owned_with_participants(user, room_name)
            issued = self._tokens.issue(user, room_name, self._policy.token_ttl)
            redispatched = await self._redispatch_if_no_agent(user, metadata, room_name, participants)
        logger.info(
            "voice session rejoined",
            extra=LogContext(
                user_id=user.id,
                room_name=room_name,
                agent_type=metadata.agent_type.value,
                agent_dispatched=redispatched,
            ),
        )
        return StartedSession(
            room_name=room_name,
            token=issued.token,
            livekit_url=issued.server_url,
            expires_at=issued.expires_at,
            agent_type=metadata.agent_type,
            created_at=metadata.created_at,
        )

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

        Raises ``SessionNotFound`` (also to every caller but one when ends race) or
        ``NotSessionOwner``.
        """
        async with self._end_locks.hold(room_name):
            metadata = await self._owned(user, room_name)
            if not await self._gateway.delete_room(room_name):
                raise SessionNotFound(room_name)
        logger.info(
            "voice session ended",
            extra=LogContext(user_id=user.id, room_name=room_name, agent_type=metadata.agent_type.value),
        )

    async def list(self, user: User) -> list[SessionSummary]:
        """``user``'s live sessions, newest first; empty if there are none."""
        if not can_name_rooms(user.id):
            return []  # an id that cannot name a room owns nothing
        candidates = await self._gateway.list_candidate_rooms(user.id)
        owned: list[tuple[Room, RoomMetadata]] = []
        for room in candidates:
            metadata = session_metadata(room.name, room.metadata)
            if metadata is not None and metadata.user_id == user.id:
                owned.append((room, metadata))
        participant_lists = await all_or_first_error(
            *(self._gateway.list_participants(room.name) for room, _ in owned)
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
    def agent_name(self) -> str | None:
        """The agent every session gets, when one is configured by name."""
        return self._policy.agent_name

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

    async def _redispatch_if_no_agent(
        self, user: User, metadata: RoomMetadata, room_name: str, participants: Sequence[Participant]
    ) -> bool:
        dispatch = self._dispatch_for(user, metadata.agent_type, room_name)
        if dispatch is None or any(p.kind is ParticipantKind.AGENT for p in participants):
            return False
        dispatches = await self._gateway.list_agent_dispatches(room_name)
        if any(self._on_its_way(record, dispatch.agent_name) for record in dispatches):
            return False
        await self._gateway.dispatch_agent(room_name, dispatch)
        return True

    def _on_its_way(self, record: DispatchRecord, agent_name: str) -> bool:
        return (
            record.agent_name == agent_name
            and not record.finished
            and self._clock() - record.created_at < self._policy.agent_join_grace
        )

    def _dispatch_for(self, user: User, agent_type: AgentType, room_name: str) -> AgentDispatch | None:
        if not self._policy.agent_name:
            return None
        payload = {"user_id": user.id, "agent_type": agent_type.value, "room_name": room_name}
        return AgentDispatch(agent_name=self._policy.agent_name, metadata=json.dumps(payload))
