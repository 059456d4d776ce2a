"""The agent watchdog: dispatch again when a waiting user's agent never came, or left.

One replica at a time runs a pass (a lock with a lease in the store, as the index
repair does). A pass looks at every live session with no agent in the room; a
session ``missing`` its agent, or whose agent ``left`` while the user is still
there, gets another dispatch, at most ``redispatch_limit`` times per session. The
count is the store's (``count_dispatch``, one atomic step), a budget shared with
the rejoins, so it holds across passes, replicas and restarts.

The watchdog is off the request path, so it reads LiveKit's dispatch state
(``AgentPresence.confirmed_state``) whenever the store alone says an agent is
still to come: an agent that came unseen (its webhooks late or lost) is told to
the store, and status says ``left`` from then on.

A miss is counted (metrics) once per session and dispatch round, whichever replica
sees it, through the store's dedupe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from voicecore.core.agents import AgentPresence, agent_dispatch_for
from voicecore.core.domain import AgentState, SessionPolicy, User, parse_agent_type
from voicecore.core.errors import GatewayError, StoreError, VoiceCoreError
from voicecore.core.log_context import LogContext
from voicecore.core.metrics import NO_METRICS, Metrics
from voicecore.core.ports import ParticipantKind, RoomGateway
from voicecore.core.recorder import SessionRecorder
from voicecore.core.replica_work import every, lock_if_free, logged_pass
from voicecore.core.session_record import SessionRecord
from voicecore.core.store import SessionStore

logger = logging.getLogger(__name__)

LOCK_NAME: Final = "agent-watchdog"
_MISS_MEMORY: Final = timedelta(hours=24)


class AgentWatchdog:
    def __init__(
        self,
        gateway: RoomGateway,
        store: SessionStore,
        recorder: SessionRecorder,
        policy: SessionPolicy,
        *,
        redispatch_limit: int | None = None,
        clock: Callable[[], datetime],
        metrics: Metrics = NO_METRICS,
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        self._gateway = gateway
        self._store = store
        self._recorder = recorder
        self._policy = policy
        # The policy's budget (AGENT_REDISPATCH_LIMIT) unless given: the one rejoins spend too.
        self._limit = policy.agent_redispatch_limit if redispatch_limit is None else redispatch_limit
        self._clock = clock
        self._metrics = metrics
        self._lease = lease
        self._presence = AgentPresence(gateway, store, policy, clock, on_agent_seen=recorder.agent_joined)

    async def run_once(self) -> list[str] | None:
        """One pass: the rooms dispatched again; None if another replica holds the lock.

        Raises GatewayError or StoreError.
        """
        if not self._policy.agent_name:
            return []  # LiveKit's automatic dispatch: there is no agent name to send again
        async with lock_if_free(self._store, LOCK_NAME, lease=self._lease) as held:
            if not held:
                return None
            redispatched = []
            for record in await self._store.all_sessions():
                try:
                    if await self._check(record):
                        redispatched.append(record.room_name)
                except (GatewayError, StoreError):
                    raise
                except VoiceCoreError as exc:  # a record the core cannot read: the others still count
                    logger.warning(
                        "agent watchdog skipped a session: %s",
                        exc,
                        extra=LogContext(room_name=record.room_name),
                    )
            return redispatched

    async def _check(self, record: SessionRecord) -> bool:
        participants = await self._gateway.list_participants(record.room_name)
        if not participants:
            return False  # an empty (or gone) room has nobody waiting
        room = record.room_name
        state = await self._presence.state(room, participants, record, record.created_at)  # notes an agent
        if state in (AgentState.PENDING, AgentState.MISSING):  # LiveKit may know that one came unseen
            state = await self._presence.confirmed_state(room, participants, record)
        user_waiting = any(p.kind is ParticipantKind.STANDARD for p in participants)
        if not (state is AgentState.MISSING or (state is AgentState.LEFT and user_waiting)):
            return False
        context = LogContext(room_name=room, user_id=record.user_id, agent_state=state.value)
        if await self._store.first_sighting(f"agent-miss:{room}:{record.agent_dispatches}", ttl=_MISS_MEMORY):
            self._metrics.agent_missed()
            if state is AgentState.MISSING:
                await self._recorder.agent_missing(room)
        count: int | None = 0
        if record.agent_dispatches < self._limit:
            count = await self._store.count_dispatch(room, at=self._clock(), limit=self._limit)
        if count is None:
            return False  # ended meanwhile
        if not count:  # spent, by this watchdog or by rejoins
            if await self._store.first_sighting(f"redispatch-spent:{room}", ttl=_MISS_MEMORY):
                self._metrics.agent_redispatch_refused("watchdog")
                logger.warning("voice session has no agent; re-dispatch limit reached", extra=context)
            return False
        dispatch = agent_dispatch_for(
            self._policy, User(id=record.user_id), parse_agent_type(record.agent_type), room
        )
        if dispatch is None:
            return False
        dispatch_id = await self._gateway.dispatch_agent(room, dispatch)
        await self._recorder.dispatched(room)
        self._metrics.agent_redispatched("watchdog")
        logger.warning(
            "voice session has no agent; dispatched again (%d of %d)",
            count,
            self._limit,
            extra=LogContext(**context, dispatch_id=dispatch_id),
        )
        return True

    async def run_logged(self) -> list[str] | None:
        """One pass whose failure is logged, not raised: the next pass tries again."""
        return await logged_pass(
            self.run_once, logger=logger, what="agent watchdog pass", operation="agent_watchdog"
        )

    async def run_every(self, interval_seconds: float) -> None:
        """A pass every ``interval_seconds``, the first after one interval, until cancelled."""
        await every(interval_seconds, self.run_logged)
