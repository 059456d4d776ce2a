"""A session's agent state, read from LiveKit and the store: the I/O around core/agent_state.py."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime

from voicecore.core.agent_state import AgentState, agent_facts, agent_state
from voicecore.core.creation import agent_dispatch_for
from voicecore.core.domain import AgentType, SessionPolicy, User
from voicecore.core.ports import DispatchRecord, Participant, ParticipantKind, RoomGateway
from voicecore.core.store import SessionRecord, SessionStore

_NOTED_KEPT = 10_000


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
        self._noted: OrderedDict[str, str] = OrderedDict()  # room -> the agent last noted there

    async def state(self, room_name: str, participants: Sequence[Participant]) -> AgentState:
        """The agent state of a room whose participants were just read.

        An agent in the room settles it; only otherwise are the store's record and
        LiveKit's dispatch state read (together).
        """
        agents = [p.identity for p in participants if p.kind is ParticipantKind.AGENT]
        if agents:
            await self._note_seen(room_name, agents[0])
            return AgentState.JOINED
        record, dispatches = await asyncio.gather(
            self._store.get_session(room_name), self._gateway.list_agent_dispatches(room_name)
        )
        return self.derive(participants, record, dispatches)

    async def _note_seen(self, room_name: str, agent_identity: str) -> None:
        """Remember in the store that this agent came, once per agent and process.

        LiveKit's webhooks for an agent can be late or lost, and without this a
        departed agent would read as never having come ("pending", then "missing")
        instead of "left".
        """
        if self._noted.get(room_name) == agent_identity:
            return
        await self._store.note_participant(room_name, agent=True, joined=True, at=self._clock())
        self._noted[room_name] = agent_identity
        self._noted.move_to_end(room_name)
        while len(self._noted) > _NOTED_KEPT:
            self._noted.popitem(last=False)

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
        record, dispatches = await asyncio.gather(
            self._store.get_session(room_name), self._gateway.list_agent_dispatches(room_name)
        )
        # A recent dispatch is on its way, unless its agent already came and went:
        # LiveKit keeps that dispatch's job "running" after the agent has left.
        on_its_way = any(self._on_its_way(sent, dispatch.agent_name) for sent in dispatches)
        if on_its_way and self.derive(participants, record, dispatches) is not AgentState.LEFT:
            return False
        await self._gateway.dispatch_agent(room_name, dispatch)
        return True

    def _on_its_way(self, record: DispatchRecord, agent_name: str) -> bool:
        return (
            record.agent_name == agent_name
            and not record.finished
            and self._clock() - record.created_at < self._policy.agent_join_grace
        )
