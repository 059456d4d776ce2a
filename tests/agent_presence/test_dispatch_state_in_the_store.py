"""The agent state from what the store knows, with no ListDispatch on the way (issue 22).

Status and list read the participants and the session's record: the record keeps the
latest dispatch (the create's, at the session's creation; each re-dispatch's, counted
atomically), and the agent's comings and goings (webhooks, or an agent seen in the
room). ListDispatch is left to the watchdog, off the request path, which tells the
store about an agent LiveKit says came when its webhooks did not. Every replica
reads the same record: one that saw no create, or a record rebuilt from the room
after the store lost its memory, reports the same state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.clocks import StoppedClock
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitTokenIssuer
from voicecore.adapters.redis_store import RedisSessionStore
from voicecore.core.agent_watchdog import AgentWatchdog
from voicecore.core.domain import AgentState, SessionPolicy, User
from voicecore.core.ports import ParticipantKind
from voicecore.core.recorder import SessionRecorder
from voicecore.core.repair import SessionRepair
from voicecore.core.sessions import VoiceSessions
from voicecore.core.store import SessionStore
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore.testing.redis_server import LocalRedisServer

ALICE = User("alice")
NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=20)
WITH_AGENT = SessionPolicy(agent_name="coach", agent_join_grace=WINDOW)
NO_AGENT_NAME = SessionPolicy(agent_join_grace=WINDOW)


@pytest.fixture
def clock() -> StoppedClock:
    return StoppedClock(NOON)


@pytest.fixture
def gateway(clock: StoppedClock) -> InMemoryRoomGateway:
    """The in-memory gateway with ListDispatch failing: status and list must never need it."""
    gateway = InMemoryRoomGateway(clock)
    gateway.fail("list_agent_dispatches")
    return gateway


async def states(sessions: VoiceSessions, room: str) -> tuple[AgentState, AgentState]:
    """The agent state as status and as list say it."""
    [listed] = await sessions.list(ALICE)
    return (await sessions.status(ALICE, room)).agent_state, listed.agent_state


@pytest.mark.parametrize("policy", [WITH_AGENT, NO_AGENT_NAME], ids=["agent named", "automatic dispatch"])
async def test_pending_missing_joined_and_left_without_asking_livekit_for_dispatches(
    policy: SessionPolicy,
    gateway: InMemoryRoomGateway,
    token_issuer: LiveKitTokenIssuer,
    clock: StoppedClock,
    recorder: SessionRecorder,
) -> None:
    store = InProcessSessionStore(clock=clock)
    sessions = VoiceSessions(gateway, token_issuer, policy, store=store, clock=clock, recorder=recorder)
    room = (await sessions.start(ALICE)).room_name
    assert await states(sessions, room) == (AgentState.PENDING, AgentState.PENDING)

    clock.advance(WINDOW * 2)  # nobody waits yet: never missing
    assert await states(sessions, room) == (AgentState.PENDING, AgentState.PENDING)
    gateway.join(room, "alice")
    await store.note_participant(room, agent=False, joined=True, at=clock())  # the webhook
    clock.advance(WINDOW - timedelta(seconds=1))
    assert await states(sessions, room) == (AgentState.PENDING, AgentState.PENDING)
    clock.advance(timedelta(seconds=2))
    assert await states(sessions, room) == (AgentState.MISSING, AgentState.MISSING)

    gateway.join(room, "agent-1", ParticipantKind.AGENT)
    assert await states(sessions, room) == (AgentState.JOINED, AgentState.JOINED)
    clock.advance(timedelta(seconds=1))
    gateway.leave(room, "agent-1")  # its webhooks lost: the store noted the agent it saw
    assert await states(sessions, room) == (AgentState.LEFT, AgentState.LEFT)


@pytest.fixture
async def replicas(empty_redis: LocalRedisServer, clock: StoppedClock) -> AsyncIterator[list[SessionStore]]:
    stores = [RedisSessionStore(empty_redis.url, clock=clock) for _ in range(2)]
    for store in stores:
        await store.open()
    yield list(stores)
    for store in stores:
        await store.aclose()


async def test_a_replica_that_saw_no_create_reports_the_same_dispatch_state(
    replicas: list[SessionStore],
    gateway: InMemoryRoomGateway,
    token_issuer: LiveKitTokenIssuer,
    clock: StoppedClock,
    recorder: SessionRecorder,
    empty_redis: LocalRedisServer,
) -> None:
    first_store, second_store = replicas
    first, second = (
        VoiceSessions(gateway, token_issuer, WITH_AGENT, store=store, clock=clock, recorder=recorder)
        for store in replicas
    )
    room = (await first.start(ALICE)).room_name
    assert (await second.status(ALICE, room)).agent_state is AgentState.PENDING
    gateway.join(room, "alice")
    await second_store.note_participant(room, agent=False, joined=True, at=clock())
    clock.advance(WINDOW + timedelta(seconds=1))
    assert (await second.status(ALICE, room)).agent_state is AgentState.MISSING

    # The first replica's watchdog sends the agent again (it may read ListDispatch: it is off the path).
    gateway.recover()
    watchdog = AgentWatchdog(gateway, first_store, recorder, WITH_AGENT, redispatch_limit=1, clock=clock)
    assert await watchdog.run_once() == [room]
    gateway.fail("list_agent_dispatches")
    clock.advance(WINDOW - timedelta(seconds=1))
    assert (await second.status(ALICE, room)).agent_state is AgentState.PENDING  # the new window
    clock.advance(timedelta(seconds=2))
    assert (await second.status(ALICE, room)).agent_state is AgentState.MISSING

    # The store loses its memory; the repair rebuilds the record from the room: the creation is
    # its bound for the dispatch, and the state is read as before, a missing agent still missing.
    empty_redis.flush()
    repair = SessionRepair(gateway, second_store, recorder, WITH_AGENT, clock=clock)
    report = await repair.run_once()
    assert report is not None
    assert report.added == (room,)
    assert (await second.status(ALICE, room)).agent_state is AgentState.MISSING
    gateway.join(room, "agent-2", ParticipantKind.AGENT)
    assert (await second.status(ALICE, room)).agent_state is AgentState.JOINED


async def test_an_agent_that_came_unseen_is_left_once_the_watchdog_has_asked_livekit(
    gateway: InMemoryRoomGateway,
    token_issuer: LiveKitTokenIssuer,
    clock: StoppedClock,
    recorder: SessionRecorder,
) -> None:
    store = InProcessSessionStore(clock=clock)
    spent = SessionPolicy(agent_name="coach", agent_join_grace=WINDOW, agent_redispatch_limit=0)
    sessions = VoiceSessions(gateway, token_issuer, spent, store=store, clock=clock, recorder=recorder)
    room = (await sessions.start(ALICE)).room_name
    gateway.join(room, "alice")
    await store.note_participant(room, agent=False, joined=True, at=clock())
    # A worker takes the job, its agent joins and leaves between two polls; no webhook arrives.
    gateway.assign_dispatches(room, clock() + timedelta(seconds=1))
    clock.advance(WINDOW + timedelta(seconds=1))
    assert (await sessions.status(ALICE, room)).agent_state is AgentState.MISSING  # all the store knows

    gateway.recover()
    watchdog = AgentWatchdog(gateway, store, recorder, spent, clock=clock)
    assert await watchdog.run_once() == []  # the budget is 0: it only looks
    gateway.fail("list_agent_dispatches")
    assert (await sessions.status(ALICE, room)).agent_state is AgentState.LEFT
