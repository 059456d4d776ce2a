"""The voice-session use cases: start, status, end and list, with ownership rules.

Ownership is the room metadata's ``user_id``, compared exactly; the name never
grants anything. A room is a voice session only if its metadata is readable and
its name was made for the user that metadata names; any other room belongs to
nobody and is reported as not found, as is any name voicecore could never have
made (checked before the gateway is called). status, end and list share this rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar, cast

from voicecore.core.domain import (
    AgentType,
    RoomMetadata,
    SessionMode,
    SessionPolicy,
    User,
    new_room_name,
    room_name_user_id,
    session_metadata,
    utc_now,
)
from voicecore.core.errors import GatewayError, NotSessionOwner, SessionNotFound
from voicecore.core.ports import (
    AgentDispatch,
    Participant,
    ParticipantKind,
    Room,
    RoomGateway,
    RoomSpec,
    TokenIssuer,
)

logger = logging.getLogger("voicecore.sessions")
T = TypeVar("T")

# A fresh 64-bit name colliding with an existing room is astronomically unlikely;
# a few attempts turn "unlikely" into "never" without looping forever.
_CREATE_ATTEMPTS = 3
# Background cleanup of a possibly half-created room: about a minute of retries;
# a room LiveKit reports absent three times is taken as never created. Past the
# cap (a long outage), the rooms' empty_timeout does the cleaning.
_CLEANUP_DELAYS_SECONDS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
_CLEANUP_ABSENT_ANSWERS = 3
_CLEANUPS_MAX_PENDING = 1000


@dataclass(frozen=True, slots=True)
class StartedSession:
    room_name: str
    token: str
    expires_at: datetime
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


async def _all_or_first_error(*calls: Awaitable[T]) -> list[T]:
    """Like gather, but never leaves a sibling call running after a failure."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return cast(list[T], results)


class _KeyedLocks:
    """One asyncio.Lock per key, dropped when nobody holds or awaits it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        entry = self._locks.get(key)
        lock, users = entry if entry is not None else (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class VoiceSessions:
    """The four use cases over one room gateway and one token issuer."""

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
        self._sleep = sleep
        self._cleanups: set[asyncio.Task[None]] = set()
        self._closed = False
        # Ends of one room within this process are serialised so that exactly one
        # caller sees "ended" and the rest "not found", whatever the server does.
        self._end_locks = _KeyedLocks()

    async def start(self, user: User, agent_type: AgentType = AgentType.GENERAL) -> StartedSession:
        for _ in range(_CREATE_ATTEMPTS):
            room_name = new_room_name(user.id)  # raises InvalidUserId before anything is made
            metadata = RoomMetadata(
                user_id=user.id,
                agent_type=agent_type,
                mode=SessionMode.VOICE,
                created_at=self._clock(),
            )
            # The token is minted before the room exists, so a failure here
            # cannot leave a room behind.
            issued = self._tokens.issue(user, room_name, self._policy.token_ttl)
            spec = RoomSpec(
                name=room_name,
                metadata=metadata.encode(),
                empty_timeout_seconds=self._policy.empty_timeout_seconds,
                max_participants=self._policy.max_participants,
                agent_dispatch=self._dispatch_for(user, agent_type, room_name),
            )
            room = await self._create_or_clean_up(spec)
            # LiveKit returns an existing room of the same name unchanged: only a
            # room carrying exactly our metadata is the one we just made.
            if room.metadata == spec.metadata:
                logger.info(
                    "voice session created",
                    extra={"user_id": user.id, "room_name": room_name, "agent_type": agent_type.value},
                )
                return StartedSession(
                    room_name=room_name,
                    token=issued.token,
                    expires_at=issued.expires_at,
                    agent_type=agent_type,
                    created_at=metadata.created_at,
                )
            logger.warning("room name already taken, drawing another", extra={"room_name": room_name})
        raise GatewayError("create_room", None, "could not obtain a fresh room name")

    async def status(self, user: User, room_name: str) -> SessionStatus:
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
            extra={
                "user_id": user.id,
                "room_name": room_name,
                "agent_type": metadata.agent_type.value,
                "participant_count": status.participant_count,
                "agent_connected": status.agent_connected,
            },
        )
        return status

    async def end(self, user: User, room_name: str) -> None:
        async with self._end_locks.hold(room_name):
            metadata = await self._owned(user, room_name)
            if not await self._gateway.delete_room(room_name):
                raise SessionNotFound(room_name)
        logger.info(
            "voice session ended",
            extra={"user_id": user.id, "room_name": room_name, "agent_type": metadata.agent_type.value},
        )

    async def list(self, user: User) -> list[SessionSummary]:
        # No id check here: an id that cannot name a room simply owns nothing.
        candidates = await self._gateway.list_candidate_rooms(user.id)
        owned: list[tuple[Room, RoomMetadata]] = []
        for room in candidates:
            metadata = session_metadata(room.name, room.metadata)
            if metadata is not None and metadata.user_id == user.id:
                owned.append((room, metadata))
        participant_lists = await _all_or_first_error(
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
        logger.info(
            "voice sessions listed",
            extra={"user_id": user.id, "session_count": len(sessions)},
        )
        return sessions

    async def _create_or_clean_up(self, spec: RoomSpec) -> Room:
        """Create the room; if that fails, make sure no room of ours is left behind.

        A timed-out or dropped create may still have reached LiveKit, and the user
        never got the name. Only a room carrying exactly our metadata is removed
        (never someone else's). If LiveKit cannot answer the check right now, the
        cleanup carries on in the background a few times; the room's empty_timeout
        is the last backstop.
        """
        try:
            return await self._gateway.create_room(spec)
        except GatewayError:
            try:
                await self._remove_if_ours(spec)
            except GatewayError:
                self._clean_up_later(spec)
            raise

    async def _remove_if_ours(self, spec: RoomSpec) -> bool:
        """Delete the room if it exists and carries exactly our metadata; True if it did."""
        leftover = await self._gateway.get_room(spec.name)
        if leftover is None or leftover.metadata != spec.metadata:
            return False
        await self._gateway.delete_room(spec.name)
        logger.warning("removed a room whose create failed", extra={"room_name": spec.name})
        return True

    def _clean_up_later(self, spec: RoomSpec) -> None:
        if self._closed or len(self._cleanups) >= _CLEANUPS_MAX_PENDING:
            logger.warning(
                "not retrying the removal of a possibly half-created room; empty_timeout will close it",
                extra={"room_name": spec.name, "operation": "create_room"},
            )
            return
        task = asyncio.create_task(self._retry_cleanup(spec), name=f"voicecore-cleanup-{spec.name}")
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    async def _retry_cleanup(self, spec: RoomSpec) -> None:
        absent = 0
        for delay in _CLEANUP_DELAYS_SECONDS:
            await self._sleep(delay)
            try:
                if await self._remove_if_ours(spec):
                    return
            except GatewayError:
                continue  # no answer is not an answer: only LiveKit saying "absent" counts
            absent += 1
            if absent >= _CLEANUP_ABSENT_ANSWERS:
                return  # still absent well after the failed create: it never landed
        logger.warning(
            "gave up removing a possibly half-created room; empty_timeout will close it",
            extra={"room_name": spec.name, "operation": "create_room"},
        )

    @property
    def cleanups_pending(self) -> int:
        return len(self._cleanups)

    async def aclose(self) -> None:
        """Cancel background cleanups (at shutdown); empty_timeout covers what they leave."""
        self._closed = True
        tasks = list(self._cleanups)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

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
        metadata = self._check_owner(user, room_name, room)  # 403/404 before a participants failure
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
                extra={"user_id": user.id, "room_name": room_name},
            )
            raise NotSessionOwner(room_name, user.id)
        return metadata

    def _dispatch_for(self, user: User, agent_type: AgentType, room_name: str) -> AgentDispatch | None:
        if not self._policy.agent_name:
            return None
        payload = {"user_id": user.id, "agent_type": agent_type.value, "room_name": room_name}
        return AgentDispatch(agent_name=self._policy.agent_name, metadata=json.dumps(payload))
