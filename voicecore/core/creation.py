"""Starting a session: guardrails, idempotency key, a fresh name, the index entry, the room, the token.

Every session dispatches a paid agent (speech-to-text, an LLM, text-to-speech), so a
user may have at most ``max_live_per_user`` live sessions and start at most
``creates_per_minute`` (a token bucket); 0 turns either off. Both are checked, and
the session indexed, in one store step (``SessionStore.admit_session``), atomic
across replicas, before the room exists.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Final

from voicecore.core.agents import agent_dispatch_for
from voicecore.core.domain import (
    AgentType,
    GuardrailPolicy,
    SessionMode,
    SessionPolicy,
    User,
    parse_agent_type,
)
from voicecore.core.errors import (
    CreationRateLimited,
    GatewayError,
    IdempotencyKeyBusy,
    JournalUnavailable,
    SessionIndexRebuilding,
    TooManyLiveSessions,
)
from voicecore.core.idempotency import IdempotencyKeys, KeyClaim
from voicecore.core.index import SessionIndex, confirmed_rooms
from voicecore.core.log_context import LogContext
from voicecore.core.metadata import RoomMetadata
from voicecore.core.naming import new_room_name
from voicecore.core.orphans import OrphanSafeCreator
from voicecore.core.ports import RoomGateway, RoomSpec, TokenIssuer
from voicecore.core.recorder import SessionRecorder
from voicecore.core.room_deadlines import tell_rooms
from voicecore.core.session_record import SessionRecord
from voicecore.core.store import Admitted, RateLimited, RoomTaken, SessionStore, SlotRefused, Unindexed
from voicecore.core.usage import UsageMeter
from voicecore.core.views import StartedSession, started_session

logger = logging.getLogger(__name__)

# A fresh 64-bit name colliding with an existing room is astronomically unlikely;
# a few attempts turn "unlikely" into "never" without looping forever.
CREATE_ATTEMPTS: Final = 3


class SessionCreator:
    def __init__(
        self,
        gateway: RoomGateway,
        tokens: TokenIssuer,
        policy: SessionPolicy,
        *,
        store: SessionStore,
        recorder: SessionRecorder,
        guardrails: GuardrailPolicy,
        meter: UsageMeter,
        index: SessionIndex,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._gateway = gateway
        self._index = index
        self._meter = meter
        self._tokens = tokens
        self._policy = policy
        self._store = store
        self._recorder = recorder
        self._guardrails = guardrails
        self._clock = clock
        self._rooms = OrphanSafeCreator(gateway, sleep)
        self._keys = IdempotencyKeys(store, sleep)

    async def start(self, user: User, kind: AgentType, idempotency_key: str | None) -> StartedSession:
        claim: KeyClaim | None = None
        if idempotency_key is not None:
            claim_or_room = await self._keys.claim(
                user.id, idempotency_key, fingerprint=f"start:{kind.value}"
            )
            if isinstance(claim_or_room, str):
                resumed = await self._resume(user, claim_or_room)
                if resumed is not None:
                    return resumed
                # It ended a moment ago: the key may start a new session now.
                claim_or_room = await self._keys.claim(
                    user.id, idempotency_key, fingerprint=f"start:{kind.value}"
                )
                if isinstance(claim_or_room, str):
                    raise IdempotencyKeyBusy
            claim = claim_or_room
        try:
            started = await self._new(user, kind)
        except BaseException:
            if claim is not None:
                await self._keys.release(claim)
            raise
        if claim is not None:
            await self._keys.complete(claim, started.room_name)
        return started

    async def _new(self, user: User, kind: AgentType) -> StartedSession:
        bounded = await self._bounds(user)
        rate_paid = False
        for _ in range(CREATE_ATTEMPTS):
            room_name = new_room_name(user.id)
            created_at = self._clock()
            metadata = RoomMetadata(
                user_id=user.id,
                agent_type=kind,
                mode=SessionMode.VOICE,
                created_at=created_at,
                ends_at=bounded.ends_at(created_at),
                allowance_seconds=bounded.limit_seconds,
            )
            # The token is minted before the room exists, so a failure here
            # cannot leave a room behind.
            issued = self._tokens.issue(user, room_name, self._policy.token_ttl)
            spec = RoomSpec(
                name=room_name,
                metadata=metadata.encode(),
                empty_timeout_seconds=self._policy.empty_timeout_seconds,
                max_participants=self._policy.max_participants,
                agent_dispatch=agent_dispatch_for(self._policy, user, kind, room_name),
                departure_timeout_seconds=self._policy.departure_timeout_seconds,
            )
            # Admitted (rate, cap and index entry in one store step) before the room
            # exists: the room's first webhooks (the agent joining) find the record.
            # A name already indexed is a collision.
            if not await self._admit(metadata.session_record(room_name), rate_paid=rate_paid):
                continue
            rate_paid = True
            try:
                room, moved = await asyncio.gather(self._rooms.create(spec), bounded.tighten())
            except GatewayError:
                await self._store.remove_session(room_name)
                raise
            # LiveKit returns an existing room of the same name unchanged: only a
            # room carrying exactly our metadata is the one we just made.
            if room.metadata == spec.metadata:
                await self._record(metadata, spec)
                await tell_rooms(self._gateway, moved)
                # A start racing this one may have brought this session's deadline sooner.
                ends_at = next((r.ends_at for r in moved if r.room_name == room_name), metadata.ends_at)
                logger.info(
                    "voice session created",
                    extra=LogContext(user_id=user.id, room_name=room_name, agent_type=kind.value),
                )
                return started_session(issued, room_name, kind, metadata.created_at, ends_at)
            await self._store.remove_session(room_name)
            logger.warning("room name already taken, drawing another", extra=LogContext(room_name=room_name))
        raise GatewayError("create_room", None, "could not obtain a fresh room name")

    async def _bounds(self, user: User) -> StartBounds:
        """The bounds of the user's next session; UsageExhausted when no allowance is left."""
        limit = self._meter.limit_seconds(user)
        if limit is None:
            return StartBounds(self._meter, self._store, user.id, limit_seconds=None, days=[], live=[])
        days, records = await self._meter.read(user.id)
        live = [record.created_at for record in records]
        self._meter.refuse_if_used_up(self._meter.usage_of(days, live, limit))
        return StartBounds(self._meter, self._store, user.id, limit_seconds=limit, days=days, live=live)

    async def _record(self, metadata: RoomMetadata, spec: RoomSpec) -> None:
        """The session's journal record, written once the room exists (or no session: 503, no room)."""
        record = metadata.journal_record(spec.name, dispatches=1 if spec.agent_dispatch else 0)
        try:
            await self._recorder.started(record)
        except JournalUnavailable:
            await self._store.remove_session(spec.name)
            await self._rooms.remove(spec)
            raise

    async def _admit(self, record: SessionRecord, *, rate_paid: bool) -> bool:
        """Record the new session behind both guardrails, in one store step; False if its room is taken.

        Raises CreationRateLimited past the user's rate (unless this create already
        paid its token: ``rate_paid``) and TooManyLiveSessions at the cap. A refusal
        at the cap is checked once against LiveKit: a session that expired unseen
        (its webhook lost) must not hold a slot until the next index repair.
        """
        limit = self._guardrails.max_live_per_user
        per_minute = 0 if rate_paid else self._guardrails.creates_per_minute
        outcome = await self._store.admit_session(record, max_live=limit, per_minute=per_minute)
        if isinstance(outcome, Unindexed):
            # The store has no index of LiveKit's rooms (new, or it lost its memory): the cap
            # cannot be counted until it is rebuilt (SessionIndexRebuilding if not at once).
            await self._index.rebuild()
            outcome = await self._store.admit_session(record, max_live=limit, per_minute=per_minute)
        if isinstance(outcome, SlotRefused):
            await confirmed_rooms(record.user_id, self._store, self._gateway, self._clock)
            # The refused attempt took this create's token.
            outcome = await self._store.admit_session(record, max_live=limit, per_minute=0)
        match outcome:
            case Admitted():
                self._index.admitted()
                return True
            case RoomTaken():
                return False
            case RateLimited(retry_after_seconds=retry_after):
                raise CreationRateLimited(retry_after)
            case SlotRefused(live=live):
                raise TooManyLiveSessions(live=live, limit=limit)
            case Unindexed():  # another replica is rebuilding it
                raise SessionIndexRebuilding(retry_after_seconds=1)

    async def _resume(self, user: User, room_name: str) -> StartedSession | None:
        """The session an idempotency key made, with a fresh token; None if it has ended.

        Asked of LiveKit too: a room that closed unseen (its webhook lost) is still
        indexed, and a token for it would bring back an empty room without its agent.
        """
        record = await self._store.get_session(room_name)
        if record is None:
            return None
        if await self._gateway.get_room(room_name) is None:
            # The key's create had finished, so the room existed: it has closed since.
            await self._store.remove_session(room_name)
            return None
        issued = self._tokens.issue(user, room_name, self._policy.token_ttl)
        kind = parse_agent_type(record.agent_type)
        return started_session(issued, room_name, kind, record.created_at, record.ends_at)

    @property
    def pending(self) -> int:
        """Background cleanups of failed creates still running."""
        return self._rooms.pending

    async def aclose(self) -> None:
        await self._rooms.aclose()
        await self._index.aclose()


class StartBounds:
    """A start's deadlines: the length cap, and the user's allowance shared by their live sessions.

    Before the new session is admitted, its deadline counts it among the user's live
    sessions (``ends_at``). Once admitted, ``tighten`` counts the user's sessions again,
    now that the store has serialised any racing starts, and brings every one of them
    to the deadline the allowance gives: the sooner is kept, so of racing starts the
    one that saw the most sessions decides.
    """

    def __init__(
        self,
        meter: UsageMeter,
        store: SessionStore,
        user_id: str,
        *,
        limit_seconds: int | None,
        days: list[tuple[int, int]],
        live: list[datetime],
    ) -> None:
        self._meter = meter
        self._store = store
        self._user_id = user_id
        self._limit = limit_seconds
        self._days = days
        self._live = live

    @property
    def limit_seconds(self) -> int | None:
        return self._limit

    def ends_at(self, created_at: datetime) -> datetime | None:
        if self._limit is None:
            return self._meter.policy.length_deadline(created_at)
        used = self._meter.usage_of(self._days, [*self._live, created_at], self._limit)
        return self._meter.deadline(used, created_at)

    async def tighten(self) -> list[SessionRecord]:
        """Bring the user's deadlines to what the allowance gives now; the sessions whose deadline moved."""
        if self._limit is None:
            return []
        live = await self._store.user_sessions(self._user_id)
        used = self._meter.usage_of(self._days, [r.created_at for r in live], self._limit)
        return await self._store.set_ends_at(self._meter.deadlines(used, live), tighten=True)
