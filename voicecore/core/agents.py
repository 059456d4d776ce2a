"""A session's agent: which one is dispatched, and where it is (pending, joined, left or missing).

The state is a pure derivation (``agent_state``), so every rule is a property test
away; ``AgentPresence`` reads its inputs. Those inputs, and the LiveKit facts behind
each (docs/livekit.md, "Agent presence"):

- the participants now: an agent participant in the room is the only proof of
  presence (a dispatch's job stays "running" after its agent has gone);
- the webhook-fed record: when an agent joined and left, and when the user joined;
- the latest dispatch of the session's agent: on the request path (status, list),
  the store's record of it (the room's creation, or the latest re-dispatch, which
  the store counts atomically); off it (the watchdog, a rejoin's decision), LiveKit's
  own dispatch state (ListDispatch).

An agent's webhooks can arrive late (seen: a minute after the agent left), so
LiveKit's dispatch state also says an agent came: a job of the latest dispatch
assigned more than ``ASSIGNED_SETTLE`` ago names an agent participant, and an
agent that is not in the room by then has been and gone (it joins within a
second of assignment, docs/livekit.md). The watchdog, which reads it, tells the
store, so that the request path says ``left`` from then on, on every replica.

The join window runs from the later of the latest dispatch and the user's joining:
an agent dispatched before the user arrived has the whole window from when the
user starts waiting, and a dispatch sent after a miss or a departure gets its own.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from voicecore.core.domain import AgentState, AgentType, SessionPolicy, User, parse_agent_type
from voicecore.core.ports import AgentDispatch, DispatchRecord, Participant, ParticipantKind, RoomGateway
from voicecore.core.session_record import SessionRecord
from voicecore.core.store import SessionStore

ASSIGNED_SETTLE: Final = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class AgentFacts:
    """Everything the state is derived from; all times aware."""

    now: datetime
    agent_present: bool
    user_present: bool
    latest_dispatch_at: datetime | None  # of the session's agent; None: none known
    latest_dispatch_assigned_at: datetime | None = None  # a worker took its job
    agent_joined_at: datetime | None = None  # the latest, from webhooks
    agent_left_at: datetime | None = None
    user_joined_at: datetime | None = None


def agent_state(facts: AgentFacts, join_timeout: timedelta) -> AgentState:
    """The session's agent state; see the module's docstring for the window."""
    if facts.agent_present:
        return AgentState.JOINED
    assigned = facts.latest_dispatch_assigned_at
    came = [t for t in (facts.agent_joined_at, facts.agent_left_at) if t is not None]
    if assigned is not None and facts.now - assigned > ASSIGNED_SETTLE:
        return AgentState.LEFT  # the latest dispatch's agent came, and is not here
    last_seen = max(came) if came else None
    dispatched_since = (
        facts.latest_dispatch_at is not None
        and last_seen is not None
        and facts.latest_dispatch_at > last_seen
    )
    if last_seen is not None and not dispatched_since:
        return AgentState.LEFT
    if not facts.user_present:
        return AgentState.PENDING  # nobody is waiting for it yet
    starts = [t for t in (facts.latest_dispatch_at, facts.user_joined_at) if t is not None]
    if starts and facts.now - max(starts) > join_timeout:
        return AgentState.MISSING
    return AgentState.PENDING


def latest_dispatch(dispatches: Sequence[DispatchRecord], agent_name: str | None) -> DispatchRecord | None:
    """The session's agent's latest dispatch; LiveKit's automatic one has an empty name."""
    wanted = agent_name or ""
    return max((d for d in dispatches if d.agent_name == wanted), key=lambda d: d.created_at, default=None)


def recorded_facts(
    now: datetime, participants: Sequence[Participant], record: SessionRecord | None, created_at: datetime
) -> AgentFacts:
    """The facts from the participants and the store's record alone: no LiveKit dispatch state.

    The latest dispatch is the record's; ``created_at``, the room's own (from its metadata),
    stands in for a record the store does not have.
    """
    return AgentFacts(
        now=now,
        agent_present=any(p.kind is ParticipantKind.AGENT for p in participants),
        user_present=any(p.kind is ParticipantKind.STANDARD for p in participants),
        latest_dispatch_at=record.latest_dispatch_at if record else created_at,
        agent_joined_at=record.agent_joined_at if record else None,
        agent_left_at=record.agent_left_at if record else None,
        user_joined_at=record.user_joined_at if record else None,
    )


def agent_facts(
    now: datetime,
    participants: Sequence[Participant],
    record: SessionRecord | None,
    dispatches: Sequence[DispatchRecord],
    agent_name: str | None,
) -> AgentFacts:
    latest = latest_dispatch(dispatches, agent_name)
    return AgentFacts(
        now=now,
        agent_present=any(p.kind is ParticipantKind.AGENT for p in participants),
        user_present=any(p.kind is ParticipantKind.STANDARD for p in participants),
        latest_dispatch_at=latest.created_at if latest else None,
        latest_dispatch_assigned_at=latest.assigned_at if latest else None,
        agent_joined_at=record.agent_joined_at if record else None,
        agent_left_at=record.agent_left_at if record else None,
        user_joined_at=record.user_joined_at if record else None,
    )


def agent_dispatch_for(
    policy: SessionPolicy, user: User, agent_type: AgentType, room_name: str
) -> AgentDispatch | None:
    """The explicit dispatch of the configured agent, or None (LiveKit's automatic dispatch)."""
    if not policy.agent_name:
        return None
    payload = {"user_id": user.id, "agent_type": agent_type.value, "room_name": room_name}
    return AgentDispatch(agent_name=policy.agent_name, metadata=json.dumps(payload))


_NOTED_KEPT: Final = 10_000


class Redispatch(StrEnum):
    """What a rejoin's look at the agent came to."""

    SENT = "sent"
    NOT_NEEDED = "not_needed"  # an agent is in the room or on its way, or none is configured by name
    REFUSED = "refused"  # the session's re-dispatch budget is spent (or the store does not know it)


class AgentPresence:
    def __init__(
        self,
        gateway: RoomGateway,
        store: SessionStore,
        policy: SessionPolicy,
        clock: Callable[[], datetime],
        on_agent_seen: Callable[[str, datetime], Awaitable[None]],
    ) -> None:
        """``on_agent_seen(room_name, at)`` is told the first time this process sees a room's agent."""
        self._gateway = gateway
        self._store = store
        self._policy = policy
        self._clock = clock
        self._on_agent_seen = on_agent_seen
        self._noted: OrderedDict[str, str] = OrderedDict()  # room -> the agent last noted there

    async def state(
        self,
        room_name: str,
        participants: Sequence[Participant],
        record: SessionRecord | None,
        created_at: datetime,
    ) -> AgentState:
        """The agent state of a room whose participants and store record were just read: no LiveKit call.

        An agent in the room settles it (and is noted in the store); otherwise the record
        says when the agent was last dispatched, and when one came or went.
        """
        agents = [p.identity for p in participants if p.kind is ParticipantKind.AGENT]
        if agents:
            await self._note_seen(room_name, agents[0])
            return AgentState.JOINED
        facts = recorded_facts(self._clock(), participants, record, created_at)
        return agent_state(facts, self._policy.agent_join_grace)

    async def confirmed_state(
        self, room_name: str, participants: Sequence[Participant], record: SessionRecord | None
    ) -> AgentState:
        """The state by LiveKit's dispatch state too (one ListDispatch): the watchdog's, off the request path.

        A job of the latest dispatch taken more than ``ASSIGNED_SETTLE`` ago means an agent
        came. If the store has heard of none since that dispatch (its webhooks late or
        lost, no status saw it), it is told now.
        """
        dispatches = await self._gateway.list_agent_dispatches(room_name)
        latest, now = latest_dispatch(dispatches, self._policy.agent_name), self._clock()
        assigned = latest.assigned_at if latest is not None else None
        if latest is not None and assigned is not None and now - assigned > ASSIGNED_SETTLE:
            heard = [t for t in (record.agent_joined_at, record.agent_left_at) if t] if record else []
            if not heard or max(heard) < latest.created_at:
                await self._store.note_participant(room_name, agent=True, joined=True, at=assigned)
                await self._on_agent_seen(room_name, assigned)
        return self.derive(participants, record, dispatches)

    async def _note_seen(self, room_name: str, agent_identity: str) -> None:
        """Remember in the store that this agent came, once per agent and process.

        LiveKit's webhooks for an agent can be late or lost, and without this a
        departed agent would read as never having come ("pending", then "missing")
        instead of "left".
        """
        if self._noted.get(room_name) == agent_identity:
            return
        seen_at = self._clock()
        await self._store.note_participant(room_name, agent=True, joined=True, at=seen_at)
        await self._on_agent_seen(room_name, seen_at)
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
        self, user: User, room: SessionRecord, participants: Sequence[Participant]
    ) -> Redispatch:
        """Dispatch the configured agent again unless one is in the room or on its way.

        A re-dispatch takes one of the session's ``agent_redispatch_limit`` from the store
        first, the budget the watchdog spends too. The caller holds the room's rejoin lock:
        two racing rejoins must not send one each. Not the request path that clients poll:
        LiveKit's dispatch state is read here, as the watchdog does. ``room``: the session
        as its room's metadata says it was created, recorded again if the store lost it.
        """
        room_name = room.room_name
        dispatch = agent_dispatch_for(self._policy, user, parse_agent_type(room.agent_type), room_name)
        if dispatch is None or any(p.kind is ParticipantKind.AGENT for p in participants):
            return Redispatch.NOT_NEEDED
        record, dispatches = await asyncio.gather(
            self._store.get_session(room_name), self._gateway.list_agent_dispatches(room_name)
        )
        # A recent dispatch is on its way, unless its agent already came and went:
        # LiveKit keeps that dispatch's job "running" after the agent has left.
        on_its_way = any(self._on_its_way(sent, dispatch.agent_name) for sent in dispatches)
        if on_its_way and self.derive(participants, record, dispatches) is not AgentState.LEFT:
            return Redispatch.NOT_NEEDED
        if record is None:  # the store lost it (or never had it): LiveKit still has the room
            await self._store.add_session(room)
        limit = self._policy.agent_redispatch_limit
        if not await self._store.count_dispatch(room_name, at=self._clock(), limit=limit):
            return Redispatch.REFUSED
        await self._gateway.dispatch_agent(room_name, dispatch)
        return Redispatch.SENT

    def _on_its_way(self, record: DispatchRecord, agent_name: str) -> bool:
        return (
            record.agent_name == agent_name
            and not record.finished
            and self._clock() - record.created_at < self._policy.agent_join_grace
        )
