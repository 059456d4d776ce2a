"""Rejoin on the in-memory gateway: a fresh token for one's own live session, and the agent sent again."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from tests.support.constants import CONFIGURED_LIVEKIT_URL, TEST_API_SECRET
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitTokenIssuer
from voicecore.core.domain import AgentType, SessionPolicy, User
from voicecore.core.errors import GatewayError, NotSessionOwner, SessionNotFound
from voicecore.core.ports import AgentDispatch, ParticipantKind
from voicecore.core.recorder import SessionRecorder
from voicecore.core.sessions import VoiceSessions
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway

ALICE = User("alice", "alice@example.com")
BOB = User("bob")
GRACE = timedelta(seconds=20)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gateway(clock: Clock) -> InMemoryRoomGateway:
    return InMemoryRoomGateway(clock=clock)


@pytest.fixture
def with_agent(
    gateway: InMemoryRoomGateway, token_issuer: LiveKitTokenIssuer, clock: Clock, recorder: SessionRecorder
) -> VoiceSessions:
    policy = SessionPolicy(agent_name="coach", agent_join_grace=GRACE)
    return VoiceSessions(
        gateway, token_issuer, policy, clock=clock, store=InProcessSessionStore(), recorder=recorder
    )


def named(gateway: InMemoryRoomGateway, room: str) -> list[str]:
    return [d.agent_name for d in gateway.dispatches_of(room)]


async def test_rejoin_gives_a_fresh_token_for_the_same_room_with_the_grants_of_start(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    started = await sessions.start(ALICE, AgentType.DIET)
    await asyncio.sleep(1.1)  # exp is in whole seconds: a later token has a later exp
    again = await sessions.rejoin(ALICE, started.room_name)

    assert (again.room_name, again.agent_type, again.created_at, again.livekit_url) == (
        started.room_name,
        AgentType.DIET,
        started.created_at,
        CONFIGURED_LIVEKIT_URL,
    )
    assert again.token != started.token
    assert again.expires_at > started.expires_at
    first, fresh = (
        jwt.decode(t, TEST_API_SECRET, algorithms=["HS256"]) for t in (started.token, again.token)
    )
    for claims in (first, fresh):
        assert claims["exp"] - claims["nbf"] == 6 * 3600
    assert datetime.fromtimestamp(fresh["exp"], UTC) == again.expires_at
    assert {k: fresh[k] for k in ("sub", "name", "video")} == {k: first[k] for k in ("sub", "name", "video")}
    assert memory_gateway.room_names == {started.room_name}


async def test_someone_elses_session_is_refused_and_nothing_changes(
    with_agent: VoiceSessions, gateway: InMemoryRoomGateway, clock: Clock
) -> None:
    started = await with_agent.start(ALICE)
    clock.advance(GRACE * 2)
    with pytest.raises(NotSessionOwner):
        await with_agent.rejoin(BOB, started.room_name)
    assert gateway.room_names == {started.room_name}
    assert named(gateway, started.room_name) == ["coach"]  # no agent sent for the intruder


async def test_missing_ended_and_impossible_names_are_not_found_and_create_nothing(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    started = await sessions.start(ALICE)
    await sessions.end(ALICE, started.room_name)
    for name in [started.room_name, "fitness-voice-alice-0123456789abcdef"]:
        with pytest.raises(SessionNotFound):
            await sessions.rejoin(ALICE, name)
    memory_gateway.fail("get_room", "list_participants", "list_agent_dispatches", "dispatch_agent")
    for name in ["x" * 300, "fitness-voice-alice\x00", "../etc/passwd", ""]:
        with pytest.raises(SessionNotFound):  # never reaches the gateway, which is down
            await sessions.rejoin(ALICE, name)
    assert memory_gateway.room_names == frozenset()


async def test_a_room_that_is_not_a_voice_session_is_not_found(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    name = "fitness-voice-alice-0123456789abcdef"
    memory_gateway.put_room(name, '{"user_id": "alice"}')
    with pytest.raises(SessionNotFound):
        await sessions.rejoin(ALICE, name)


async def test_without_an_agent_name_rejoin_dispatches_nothing(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    started = await sessions.start(ALICE)
    await sessions.rejoin(ALICE, started.room_name)
    assert named(memory_gateway, started.room_name) == [""]  # the server's automatic dispatch only


async def test_an_agent_on_its_way_is_not_sent_twice(
    with_agent: VoiceSessions, gateway: InMemoryRoomGateway, clock: Clock
) -> None:
    started = await with_agent.start(ALICE)
    clock.advance(GRACE - timedelta(seconds=1))
    await with_agent.rejoin(ALICE, started.room_name)
    assert named(gateway, started.room_name) == ["coach"]


async def test_an_agent_in_the_room_is_not_sent_again_however_old_its_dispatch(
    with_agent: VoiceSessions, gateway: InMemoryRoomGateway, clock: Clock
) -> None:
    started = await with_agent.start(ALICE)
    gateway.join(started.room_name, "agent-coach", ParticipantKind.AGENT)
    clock.advance(GRACE * 10)
    await with_agent.rejoin(ALICE, started.room_name)
    assert named(gateway, started.room_name) == ["coach"]


async def test_after_the_agent_left_rejoin_sends_it_again_with_the_session_metadata(
    with_agent: VoiceSessions, gateway: InMemoryRoomGateway, clock: Clock
) -> None:
    started = await with_agent.start(ALICE, AgentType.WORKOUT)
    gateway.join(started.room_name, "agent-coach", ParticipantKind.AGENT)
    gateway.leave(started.room_name, "agent-coach")
    clock.advance(GRACE)
    await with_agent.rejoin(ALICE, started.room_name)
    first, second = gateway.dispatches_of(started.room_name)
    assert (second.agent_name, second.created_at) == ("coach", clock.now)
    # The same payload as the dispatch made with the room.
    assert second.metadata == first.metadata
    assert json.loads(second.metadata) == {
        "user_id": "alice",
        "agent_type": "workout",
        "room_name": started.room_name,
    }
    # And a rejoin right after finds the new dispatch on its way.
    await with_agent.rejoin(ALICE, started.room_name)
    assert named(gateway, started.room_name) == ["coach", "coach"]


async def test_an_agent_seen_to_come_and_go_is_sent_again_even_within_the_grace(
    with_agent: VoiceSessions, gateway: InMemoryRoomGateway, clock: Clock
) -> None:
    started = await with_agent.start(ALICE)
    gateway.join(started.room_name, "agent-coach", ParticipantKind.AGENT)
    clock.advance(timedelta(seconds=1))
    assert (await with_agent.status(ALICE, started.room_name)).agent_connected  # seen: noted in the store
    gateway.leave(started.room_name, "agent-coach")  # its webhooks lost
    clock.advance(timedelta(seconds=1))  # well within the grace of the first dispatch
    await with_agent.rejoin(ALICE, started.room_name)
    assert named(gateway, started.room_name) == ["coach", "coach"]


async def test_a_finished_dispatch_is_not_on_its_way_even_when_recent(
    with_agent: VoiceSessions, gateway: InMemoryRoomGateway
) -> None:
    started = await with_agent.start(ALICE)
    gateway.finish_dispatches(started.room_name)
    await with_agent.rejoin(ALICE, started.room_name)
    assert named(gateway, started.room_name) == ["coach", "coach"]


async def test_another_agents_dispatch_does_not_count_as_ours(
    gateway: InMemoryRoomGateway,
    token_issuer: LiveKitTokenIssuer,
    clock: Clock,
    recorder: SessionRecorder,
) -> None:
    plain = VoiceSessions(
        gateway,
        token_issuer,
        SessionPolicy(agent_join_grace=GRACE),
        clock=clock,
        store=InProcessSessionStore(),
        recorder=recorder,
    )
    started = await plain.start(ALICE)  # the automatic dispatch, with no agent name
    named_agent = VoiceSessions(
        gateway,
        token_issuer,
        SessionPolicy(agent_name="coach", agent_join_grace=GRACE),
        clock=clock,
        store=InProcessSessionStore(),
        recorder=recorder,
    )
    await named_agent.rejoin(ALICE, started.room_name)
    assert named(gateway, started.room_name) == ["", "coach"]


async def test_concurrent_rejoins_send_one_agent(
    with_agent: VoiceSessions, gateway: InMemoryRoomGateway, clock: Clock
) -> None:
    started = await with_agent.start(ALICE)
    clock.advance(GRACE * 2)
    tokens = await asyncio.gather(*(with_agent.rejoin(ALICE, started.room_name) for _ in range(8)))
    assert {t.room_name for t in tokens} == {started.room_name}
    assert named(gateway, started.room_name) == ["coach", "coach"]


async def test_a_failing_dispatch_service_fails_the_rejoin_as_a_gateway_error(
    with_agent: VoiceSessions, gateway: InMemoryRoomGateway, clock: Clock
) -> None:
    started = await with_agent.start(ALICE)
    clock.advance(GRACE * 2)
    for operation in ("list_agent_dispatches", "dispatch_agent"):
        gateway.fail(operation)
        with pytest.raises(GatewayError):
            await with_agent.rejoin(ALICE, started.room_name)
        gateway.recover()
    assert named(gateway, started.room_name) == ["coach"]


async def test_the_memory_gateway_refuses_dispatch_calls_on_a_missing_room(
    gateway: InMemoryRoomGateway,
) -> None:
    # As the server does with auto_create off (tests/integration/test_livekit_facts.py).
    with pytest.raises(GatewayError):
        await gateway.list_agent_dispatches("fitness-voice-alice-0123456789abcdef")
    with pytest.raises(GatewayError):
        await gateway.dispatch_agent("fitness-voice-alice-0123456789abcdef", AgentDispatch("coach", "{}"))
    assert gateway.room_names == frozenset()
