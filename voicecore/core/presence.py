"""A session's agent state, read from LiveKit and the store: the I/O around core/agent_state.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime

from voicecore.core.agent_state import AgentState, agent_facts, agent_state
from voicecore.core.creation import agent_dispatch_for
from voicecore.core.domain import AgentType, SessionPolicy, User
from voicecore.core.ports import DispatchRecord, Participant, ParticipantKind, RoomGateway
from voicecore.core.store import SessionRecord, SessionStore


class AgentPresence:
    def __init__(
        self,
        gateway: RoomGateway,
        store: SessionStore,
        policy: SessionPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self._gateway = gateway
        self._store = store
        self._policy = policy
        self._clock = clock

    async def state(self, room_name: str, participants: Sequence[Participant]) -> AgentState:
        """The agent state of a room whose participants were just read.

        An agent in the room settles it; only otherwise are the store's record and
        LiveKit's dispatch state read (together).
        """
        if any(p.kind is ParticipantKind.AGENT for p in participants):
            return AgentState.JOINED
        record, dispatches = await asyncio.gather(
            self._store.get_session(room_name), self._gateway.list_agent_dispatches(room_name)
        )
        return self.derive(participants, record, dispatches)

    def derive(
        self,
        participants: Sequence[Participant],
        record: SessionRecord | None,
        dispatches: Sequence[DispatchRecord],
    ) -> AgentState:
        facts = agent_facts(self._clock(), participants, record, dispatches, self._policy.agent_name)
        return agent_state(facts, self._policy.agent_join_grace)

    async def redispatch_if_no_agent(
        self, user: User, agent_type: AgentType, room_name: str, participants: Sequence[Participant]
    ) -> bool:
        """Dispatch the configured agent again unless one is in the room or on its way; True if sent.

        The caller holds the room's rejoin lock: two racing rejoins must not send one each.
        """
        dispatch = agent_dispatch_for(self._policy, user, agent_type, room_name)
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
