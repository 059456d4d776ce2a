"""Rejoin: a fresh token for one's own live session, and the agent sent again when none is there or coming.

The use case on the in-memory gateway with a clock the test moves, ``POST /{room_name}/token``,
then the real server (docs/http-api.md "Rejoin"; how "on its way" is decided: docs/livekit.md).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from livekit import api

from tests.support.apps import check_error, session_path, sessions_with
from tests.support.clocks import ShiftedClock, StoppedClock
from tests.support.constants import (
    AGENT_NAME,
    BASE,
    CONFIGURED_LIVEKIT_URL,
    DETAILS,
    NOT_AUTHENTICATED,
    NOT_FOUND,
    NOT_OWNER,
    TEST_API_SECRET,
)
from tests.support.leak_guard import LeakGuard
from tests.support.livekit import joined, raw_token, rooms_of, unique_user_id
from tests.support.tokens import auth_header, join_claims
from tests.support.waiting import eventually
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitRoomGateway, LiveKitTokenIssuer
from voicecore.core.domain import AgentType, SessionPolicy, User
from voicecore.core.errors import GatewayError, NotSessionOwner, SessionNotFound
from voicecore.core.ports import ParticipantKind
from voicecore.core.recorder import SessionRecorder
from voicecore.core.sessions import VoiceSessions
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore.testing.livekit_server import LocalLiveKitServer

ALICE = User("alice", "alice@example.com")


BOB = User("bob")


GRACE = timedelta(seconds=20)


@pytest.fixture
def gateway(clock: StoppedClock) -> InMemoryRoomGateway:
    return InMemoryRoomGateway(clock=clock)


@pytest.fixture
def with_agent(
    gateway: InMemoryRoomGateway,
    token_issuer: LiveKitTokenIssuer,
    clock: StoppedClock,
    recorder: SessionRecorder,
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
    # A token's times are whole seconds of the real clock (livekit-api's AccessToken): a fresh
    # token can only differ once the clock has passed into the next second.
    next_second = join_claims(started.token)["nbf"] + 1
    await asyncio.sleep(max(0.0, next_second - time.time()) + 0.01)
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
    with_agent: VoiceSessions, gateway: InMemoryRoomGateway, clock: StoppedClock
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
    with_agent: VoiceSessions, gateway: InMemoryRoomGateway, clock: StoppedClock
) -> None:
    started = await with_agent.start(ALICE)
    clock.advance(GRACE - timedelta(seconds=1))
    await with_agent.rejoin(ALICE, started.room_name)
    assert named(gateway, started.room_name) == ["coach"]


async def test_an_agent_in_the_room_is_not_sent_again_however_old_its_dispatch(
    with_agent: VoiceSessions, gateway: InMemoryRoomGateway, clock: StoppedClock
) -> None:
    started = await with_agent.start(ALICE)
    gateway.join(started.room_name, "agent-coach", ParticipantKind.AGENT)
    clock.advance(GRACE * 10)
    await with_agent.rejoin(ALICE, started.room_name)
    assert named(gateway, started.room_name) == ["coach"]


async def test_after_the_agent_left_rejoin_sends_it_again_with_the_session_metadata(
    with_agent: VoiceSessions, gateway: InMemoryRoomGateway, clock: StoppedClock
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
    with_agent: VoiceSessions, gateway: InMemoryRoomGateway, clock: StoppedClock
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
    clock: StoppedClock,
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
    with_agent: VoiceSessions, gateway: InMemoryRoomGateway, clock: StoppedClock
) -> None:
    started = await with_agent.start(ALICE)
    clock.advance(GRACE * 2)
    tokens = await asyncio.gather(*(with_agent.rejoin(ALICE, started.room_name) for _ in range(8)))
    assert {t.room_name for t in tokens} == {started.room_name}
    assert named(gateway, started.room_name) == ["coach", "coach"]


async def test_a_failing_dispatch_service_fails_the_rejoin_as_a_gateway_error(
    with_agent: VoiceSessions, gateway: InMemoryRoomGateway, clock: StoppedClock
) -> None:
    started = await with_agent.start(ALICE)
    clock.advance(GRACE * 2)
    for operation in ("list_agent_dispatches", "dispatch_agent"):
        gateway.fail(operation)
        with pytest.raises(GatewayError):
            await with_agent.rejoin(ALICE, started.room_name)
        gateway.recover()
    assert named(gateway, started.room_name) == ["coach"]


# --- POST /{room_name}/token ----------------------------------------------------------


async def test_rejoin_answers_200_with_a_fresh_token_for_the_same_room(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    headers = auth_header("user-1", "u1@example.com")
    created = (await client.post(BASE, json={"agent_type": "diet"}, headers=headers)).json()
    response = await client.post(f"{session_path(created['room_name'])}/token", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"room_name", "token", "livekit_url", "agent_type", "expires_at", "ends_at"}
    assert (body["room_name"], body["livekit_url"], body["agent_type"]) == (
        created["room_name"],
        CONFIGURED_LIVEKIT_URL,
        "diet",
    )
    fresh = join_claims(body["token"])
    assert (fresh["sub"], fresh["name"], fresh["video"]) == (
        "user-1",
        "u1@example.com",
        join_claims(created["token"])["video"],
    )
    assert fresh["exp"] - fresh["nbf"] == 6 * 3600
    assert memory_gateway.room_names == {created["room_name"]}


async def test_rejoin_of_someone_elses_missing_or_impossible_session(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway, log_leak_guard: LeakGuard
) -> None:
    owner, intruder = auth_header("owner"), auth_header("intruder")
    room = (await client.post(BASE, json={}, headers=owner)).json()["room_name"]
    check_error(await client.post(f"{session_path(room)}/token", headers=intruder), NOT_OWNER, log_leak_guard)
    check_error(await client.post(f"{session_path(room)}/token"), NOT_AUTHENTICATED, log_leak_guard)
    await client.delete(session_path(room), headers=owner)
    for name in [room, "fitness-voice-owner-0123456789abcdef", "x" * 300, "a\x00b", "fitness-voice-owner"]:
        response = await client.post(f"{session_path(name)}/token", headers=owner)
        check_error(response, NOT_FOUND, log_leak_guard)
    assert memory_gateway.room_names == frozenset()


async def test_rejoin_sends_the_agent_again_when_it_left(
    agent_client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    headers = auth_header("user-1")
    room = (await agent_client.post(BASE, json={}, headers=headers)).json()["room_name"]
    memory_gateway.finish_dispatches(room)  # the agent's job ended, as when it left
    assert (await agent_client.post(f"{session_path(room)}/token", headers=headers)).status_code == 200
    assert [d.agent_name for d in memory_gateway.dispatches_of(room)] == [AGENT_NAME, AGENT_NAME]
    memory_gateway.join(room, "agent-1", ParticipantKind.AGENT)
    memory_gateway.finish_dispatches(room)
    await agent_client.post(f"{session_path(room)}/token", headers=headers)
    assert len(memory_gateway.dispatches_of(room)) == 2  # an agent is in the room


# --- on the real server ---------------------------------------------------------------


async def test_rejoin_sends_the_agent_again_only_when_none_is_there_or_coming(
    livekit_gateway: LiveKitRoomGateway,
    livekit_token_issuer: LiveKitTokenIssuer,
    livekit_server: LocalLiveKitServer,
    member: User,
    recorder: SessionRecorder,
) -> None:
    clock = ShiftedClock()
    sessions = sessions_with(
        livekit_gateway,
        livekit_token_issuer,
        clock,
        agent_name=AGENT_NAME,
        agent_join_grace=GRACE,
        recorder=recorder,
    )
    started = await sessions.start(member, AgentType.DIET)

    async def dispatched() -> list[str]:
        return [d.metadata for d in await livekit_gateway.list_agent_dispatches(started.room_name)]

    await sessions.rejoin(member, started.room_name)
    assert len(await dispatched()) == 1  # the first dispatch is still on its way

    agent = raw_token(livekit_server, "agent-coach", started.room_name, kind="agent")
    async with joined(livekit_server.url, agent):
        await eventually(
            lambda: sessions.status(member, started.room_name),
            lambda s: s.agent_connected,
            what="status to see the agent in the room",
        )
        clock.offset = GRACE * 2
        await sessions.rejoin(member, started.room_name)
        assert len(await dispatched()) == 1  # the agent is in the room

    await eventually(
        lambda: sessions.status(member, started.room_name),
        lambda s: not s.agent_connected,
        what="status to see the agent gone",
    )
    await sessions.rejoin(member, started.room_name)  # the agent left: send it again
    first, again = await dispatched()
    assert again == first
    assert json.loads(again) == {"user_id": member.id, "agent_type": "diet", "room_name": started.room_name}


async def test_someone_elses_room_and_missing_rooms_on_the_real_server(
    livekit_client: httpx.AsyncClient, lk: api.LiveKitAPI
) -> None:
    owner, intruder = unique_user_id("owner"), unique_user_id("intruder")
    room = (await livekit_client.post(DETAILS, json={}, headers=auth_header(owner))).json()["room_name"]
    for request in (
        livekit_client.post(f"{session_path(room)}/token", headers=auth_header(intruder)),
        livekit_client.post(DETAILS, json={"room_name": room}, headers=auth_header(intruder)),
    ):
        assert (await request).status_code == 403
    missing = f"fitness-voice-{intruder}-0123456789abcdef"
    for request in (
        livekit_client.post(f"{session_path(missing)}/token", headers=auth_header(intruder)),
        livekit_client.post(DETAILS, json={"room_name": missing}, headers=auth_header(intruder)),
        livekit_client.post(f"{session_path('x' * 300)}/token", headers=auth_header(intruder)),
    ):
        assert (await request).status_code == 404
    assert await rooms_of(lk, intruder) == set()
    assert await rooms_of(lk, owner) == {room}
