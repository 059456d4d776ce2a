"""A state machine of several users starting, rejoining, querying, ending and listing sessions.

Invariant: nobody ever reads, rejoins, ends or lists a room they do not own, and every
answer agrees with a plain model (room name -> owner, agent type). The agent is
named and no dispatch counts as on its way (grace 0): a rejoin sends the agent
again exactly when none is in the room and the session's re-dispatch budget is not spent.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from tests.support.constants import CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from tests.support.journals import sqlite_recorder
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitTokenIssuer
from voicecore.core.domain import AgentType, GuardrailPolicy, SessionPolicy, User
from voicecore.core.errors import NotSessionOwner, SessionNotFound
from voicecore.core.ports import ParticipantKind
from voicecore.core.sessions import VoiceSessions
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway, RoomFull

# Ids chosen so that one user's room names look like another's ("42" and "42-7").
USERS = [User("42"), User("42-7"), User("7"), User("alice", "alice@example.com")]
NO_GUARDRAILS = GuardrailPolicy(max_live_per_user=0, creates_per_minute=0)
STATEFUL_EXAMPLES = 300
STATEFUL_STEPS = 40
REDISPATCH_LIMIT = 3  # re-dispatches a session may spend, set here so the model knows it


class SessionsMachine(RuleBasedStateMachine):
    rooms = Bundle("rooms")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.journal = contextlib.AsyncExitStack()
        recorder = self.loop.run_until_complete(self.journal.enter_async_context(sqlite_recorder()))
        self.gateway = InMemoryRoomGateway(clock=lambda: self.clock)
        self.clock = datetime(2026, 1, 1, tzinfo=UTC)
        self.sessions = VoiceSessions(
            self.gateway,
            LiveKitTokenIssuer(TEST_API_KEY, TEST_API_SECRET, server_url=CONFIGURED_LIVEKIT_URL),
            SessionPolicy(
                agent_name="coach",
                agent_join_grace=timedelta(0),
                agent_redispatch_limit=REDISPATCH_LIMIT,
            ),
            clock=self._tick,
            store=InProcessSessionStore(),
            guardrails=NO_GUARDRAILS,  # ownership is the subject here (guardrails: test_guardrails_stateful)
            recorder=recorder,
        )
        self.model: dict[str, tuple[str, AgentType]] = {}  # live room -> (owner id, agent type)
        self.participants: dict[str, list[ParticipantKind]] = {}
        self.dispatches: dict[str, int] = {}  # live room -> agents sent into it
        self.redispatches: dict[str, int] = {}  # live room -> re-dispatches it spent

    def _tick(self) -> datetime:
        self.clock += timedelta(seconds=1)
        return self.clock

    def teardown(self) -> None:
        try:
            self.loop.run_until_complete(self.journal.aclose())
        finally:
            self.loop.close()

    @rule(target=rooms, user=st.sampled_from(USERS), agent_type=st.sampled_from(AgentType))
    def start(self, user: User, agent_type: AgentType) -> str:
        started = self.loop.run_until_complete(self.sessions.start(user, agent_type))
        assert started.room_name not in self.model
        self.model[started.room_name] = (user.id, agent_type)
        self.participants[started.room_name] = []
        self.dispatches[started.room_name] = 1
        self.redispatches[started.room_name] = 0
        return started.room_name

    @rule(
        target=rooms,
        owner=st.sampled_from(USERS),
        suffix=st.sampled_from(["0000000000000000", "-0000000000000000", "x", ""]),
    )
    def made_up_name(self, owner: User, suffix: str) -> str:
        return f"fitness-voice-{owner.id}-{suffix}"

    @rule(room=rooms, kind=st.sampled_from([ParticipantKind.STANDARD, ParticipantKind.AGENT]))
    def someone_joins(self, room: str, kind: ParticipantKind) -> None:
        if room not in self.model:
            return
        present = self.participants[room]
        identity = f"p{len(present)}"
        if kind is ParticipantKind.STANDARD and present.count(ParticipantKind.STANDARD) >= 2:
            with pytest.raises(RoomFull):  # max_participants 2 does not count agents
                self.gateway.join(room, identity, kind)
        else:
            self.gateway.join(room, identity, kind)
            present.append(kind)

    @rule(user=st.sampled_from(USERS), room=rooms)
    def status(self, user: User, room: str) -> None:
        try:
            status = self.loop.run_until_complete(self.sessions.status(user, room))
        except SessionNotFound:
            assert room not in self.model
        except NotSessionOwner:
            assert room in self.model
            assert self.model[room][0] != user.id
        else:
            assert self.model[room][0] == user.id
            present = self.participants[room]
            assert status.participant_count == len(present)
            assert status.active is (len(present) > 0)
            assert status.agent_connected is (ParticipantKind.AGENT in present)

    @rule(user=st.sampled_from(USERS), room=rooms)
    def rejoin(self, user: User, room: str) -> None:
        try:
            again = self.loop.run_until_complete(self.sessions.rejoin(user, room))
        except SessionNotFound:
            assert room not in self.model
        except NotSessionOwner:
            assert room in self.model
            assert self.model[room][0] != user.id
        else:
            assert self.model[room][0] == user.id
            assert (again.room_name, again.agent_type) == (room, self.model[room][1])
            agent_missing = ParticipantKind.AGENT not in self.participants[room]
            if agent_missing and self.redispatches[room] < REDISPATCH_LIMIT:
                self.dispatches[room] += 1
                self.redispatches[room] += 1
        if room in self.model:
            assert len(self.gateway.dispatches_of(room)) == self.dispatches[room]

    @rule(user=st.sampled_from(USERS), room=rooms)
    def end(self, user: User, room: str) -> None:
        try:
            self.loop.run_until_complete(self.sessions.end(user, room))
        except SessionNotFound:
            assert room not in self.model
        except NotSessionOwner:
            assert self.model[room][0] != user.id
        else:
            assert self.model.pop(room)[0] == user.id

    @rule(user=st.sampled_from(USERS))
    def list_sessions(self, user: User) -> None:
        listed = self.loop.run_until_complete(self.sessions.list(user))
        expected = {name: agent for name, (owner, agent) in self.model.items() if owner == user.id}
        assert {s.room_name: s.agent_type for s in listed} == expected
        for summary in listed:
            assert summary.participant_count == len(self.participants[summary.room_name])

    @invariant()
    def gateway_holds_exactly_the_live_rooms(self) -> None:
        assert self.gateway.room_names == set(self.model)


SessionsMachine.TestCase.settings = settings(
    max_examples=STATEFUL_EXAMPLES, stateful_step_count=STATEFUL_STEPS, deadline=None
)
TestSessionsMachine = SessionsMachine.TestCase
