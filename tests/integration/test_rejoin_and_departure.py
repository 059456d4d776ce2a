"""Rejoin, the departure timeout and "ended means ended", against the real server.

The server runs with ``room.auto_create: false`` (voicecore.testing.livekit_server):
these tests are what that setting buys.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta

import pytest
from livekit import api, rtc

from tests.support.livekit import eventually, joined, raw_token, unique_user_id
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitRoomGateway, LiveKitTokenIssuer
from voicecore.core.domain import AgentType, SessionPolicy, User, utc_now
from voicecore.core.errors import GatewayError, NotSessionOwner, SessionNotFound
from voicecore.core.naming import new_room_name
from voicecore.core.ports import AgentDispatch, RoomSpec
from voicecore.core.recorder import SessionRecorder
from voicecore.core.sessions import VoiceSessions
from voicecore.testing.livekit_server import LocalLiveKitServer

AGENT = "fitness-coach"
GRACE = timedelta(seconds=20)


@pytest.fixture
def user() -> User:
    return User(unique_user_id("member"), "member@example.com")


class ShiftedClock:
    """The real clock, moved forward on demand: the server stamps dispatches with its own."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utc_now() + self.offset


def sessions_with(
    gateway: LiveKitRoomGateway,
    issuer: LiveKitTokenIssuer,
    clock: ShiftedClock | None = None,
    *,
    recorder: SessionRecorder,
    **policy: object,
) -> VoiceSessions:
    return VoiceSessions(
        gateway,
        issuer,
        SessionPolicy(**policy),
        clock=clock or utc_now,
        store=InProcessSessionStore(),
        recorder=recorder,
    )  # type: ignore[arg-type]


async def room_names(lk: api.LiveKitAPI) -> set[str]:
    return {room.name for room in (await lk.room.list_rooms(api.ListRoomsRequest())).rooms}


# --- facts ---------------------------------------------------------------------------


async def test_a_dispatch_into_an_existing_room_is_listed(
    livekit_gateway: LiveKitRoomGateway, lk: api.LiveKitAPI
) -> None:
    name = new_room_name(unique_user_id())
    await livekit_gateway.create_room(
        RoomSpec(name, "{}", 300, 2, agent_dispatch=AgentDispatch(AGENT, '{"first": true}'))
    )
    before = utc_now()
    await livekit_gateway.dispatch_agent(name, AgentDispatch(AGENT, '{"again": true}'))

    # The server lists dispatches in no fixed order.
    first, again = sorted(await livekit_gateway.list_agent_dispatches(name), key=lambda d: d.created_at)
    assert [(d.agent_name, d.metadata) for d in (first, again)] == [
        (AGENT, '{"first": true}'),
        (AGENT, '{"again": true}'),
    ]
    # No worker is registered: nothing is assigned, so nothing has finished.
    assert not first.finished
    assert not again.finished
    assert abs(again.created_at - before) < timedelta(seconds=5)  # the server's clock, in UTC
    # livekit-api's own view agrees.
    assert sorted(d.metadata for d in await lk.agent_dispatch.list_dispatch(name)) == [
        '{"again": true}',
        '{"first": true}',
    ]


async def test_a_room_without_a_named_agent_has_only_the_automatic_dispatch(
    livekit_gateway: LiveKitRoomGateway,
) -> None:
    name = new_room_name(unique_user_id())
    await livekit_gateway.create_room(RoomSpec(name, "{}", 300, 2))
    assert [d.agent_name for d in await livekit_gateway.list_agent_dispatches(name)] == [""]


async def test_a_dispatch_into_a_missing_room_fails_and_creates_nothing(
    livekit_gateway: LiveKitRoomGateway, lk: api.LiveKitAPI
) -> None:
    name = new_room_name(unique_user_id())
    with pytest.raises(GatewayError) as failure:
        await livekit_gateway.dispatch_agent(name, AgentDispatch(AGENT, "{}"))
    assert failure.value.operation == "dispatch_agent"
    assert name not in await room_names(lk)


async def test_a_token_cannot_create_a_room(livekit_server: LocalLiveKitServer, lk: api.LiveKitAPI) -> None:
    name = new_room_name(unique_user_id())
    with pytest.raises(rtc.ConnectError, match="does not exist"):
        async with joined(livekit_server.url, raw_token(livekit_server, "someone", name)):
            pass
    assert name not in await room_names(lk)


async def test_the_departure_timeout_is_the_rooms_own(
    livekit_gateway: LiveKitRoomGateway, livekit_server: LocalLiveKitServer, lk: api.LiveKitAPI
) -> None:
    short, longer = new_room_name(unique_user_id()), new_room_name(unique_user_id())
    await livekit_gateway.create_room(RoomSpec(short, "{}", 300, 2, departure_timeout_seconds=2))
    await livekit_gateway.create_room(RoomSpec(longer, "{}", 300, 2, departure_timeout_seconds=6))
    [info] = (await lk.room.list_rooms(api.ListRoomsRequest(names=[longer]))).rooms
    assert info.departure_timeout == 6

    async with (
        joined(livekit_server.url, raw_token(livekit_server, "u", short)),
        joined(livekit_server.url, raw_token(livekit_server, "u", longer)),
    ):
        pass
    left = time.monotonic()
    remaining = await eventually(lambda: room_names(lk), lambda names: short not in names, within=10)
    assert short not in remaining
    # Had the server's own default (20 s) applied, neither would have closed yet.
    assert time.monotonic() - left < 6
    assert longer in remaining
    assert longer not in await eventually(
        lambda: room_names(lk), lambda names: longer not in names, within=10
    )


# --- the use cases ---------------------------------------------------------------------


async def test_ended_means_ended_the_old_token_cannot_bring_the_room_back(
    livekit_gateway: LiveKitRoomGateway,
    livekit_token_issuer: LiveKitTokenIssuer,
    livekit_server: LocalLiveKitServer,
    lk: api.LiveKitAPI,
    user: User,
    recorder: SessionRecorder,
) -> None:
    sessions = sessions_with(livekit_gateway, livekit_token_issuer, recorder=recorder)
    started = await sessions.start(user)
    async with joined(livekit_server.url, started.token):
        pass
    await sessions.end(user, started.room_name)

    with pytest.raises(rtc.ConnectError, match="does not exist"):
        async with joined(livekit_server.url, started.token):
            pass
    assert started.room_name not in await room_names(lk)
    with pytest.raises(SessionNotFound):
        await sessions.rejoin(user, started.room_name)
    assert await sessions.list(user) == []


async def test_a_room_outlives_its_last_participant_by_the_policys_departure_timeout(
    livekit_gateway: LiveKitRoomGateway,
    livekit_token_issuer: LiveKitTokenIssuer,
    lk: api.LiveKitAPI,
    user: User,
    recorder: SessionRecorder,
) -> None:
    sessions = sessions_with(
        livekit_gateway, livekit_token_issuer, departure_timeout_seconds=90, recorder=recorder
    )
    started = await sessions.start(user)
    [info] = (await lk.room.list_rooms(api.ListRoomsRequest(names=[started.room_name]))).rooms
    assert (info.departure_timeout, info.empty_timeout) == (90, 300)


async def test_the_owner_rejoins_with_a_fresh_token_and_others_cannot(
    livekit_gateway: LiveKitRoomGateway,
    livekit_token_issuer: LiveKitTokenIssuer,
    livekit_server: LocalLiveKitServer,
    user: User,
    recorder: SessionRecorder,
) -> None:
    sessions = sessions_with(livekit_gateway, livekit_token_issuer, recorder=recorder)
    started = await sessions.start(user, AgentType.TRACKER)
    async with joined(livekit_server.url, started.token):
        pass  # the app was killed
    again = await sessions.rejoin(user, started.room_name)
    assert (again.room_name, again.agent_type, again.livekit_url) == (
        started.room_name,
        AgentType.TRACKER,
        livekit_server.url,
    )
    async with joined(again.livekit_url, again.token) as room:
        assert (room.name, room.local_participant.identity) == (started.room_name, user.id)
        status = await eventually(lambda: sessions.status(user, started.room_name), lambda s: s.active)
        assert status.participant_count == 1
    with pytest.raises(NotSessionOwner):
        await sessions.rejoin(User(unique_user_id("intruder")), started.room_name)
    with pytest.raises(SessionNotFound):
        await sessions.rejoin(user, new_room_name(user.id))


async def test_rejoin_sends_the_agent_again_only_when_none_is_there_or_coming(
    livekit_gateway: LiveKitRoomGateway,
    livekit_token_issuer: LiveKitTokenIssuer,
    livekit_server: LocalLiveKitServer,
    user: User,
    recorder: SessionRecorder,
) -> None:
    clock = ShiftedClock()
    sessions = sessions_with(
        livekit_gateway,
        livekit_token_issuer,
        clock,
        agent_name=AGENT,
        agent_join_grace=GRACE,
        recorder=recorder,
    )
    started = await sessions.start(user, AgentType.DIET)

    async def dispatched() -> list[str]:
        return [d.metadata for d in await livekit_gateway.list_agent_dispatches(started.room_name)]

    await sessions.rejoin(user, started.room_name)
    assert len(await dispatched()) == 1  # the first dispatch is still on its way

    agent = raw_token(livekit_server, "agent-coach", started.room_name, kind="agent")
    async with joined(livekit_server.url, agent):
        await eventually(lambda: sessions.status(user, started.room_name), lambda s: s.agent_connected)
        clock.offset = GRACE * 2
        await sessions.rejoin(user, started.room_name)
        assert len(await dispatched()) == 1  # the agent is in the room

    await eventually(lambda: sessions.status(user, started.room_name), lambda s: not s.agent_connected)
    await sessions.rejoin(user, started.room_name)  # the agent left: send it again
    first, again = await dispatched()
    assert again == first
    assert json.loads(again) == {"user_id": user.id, "agent_type": "diet", "room_name": started.room_name}


async def test_a_rejoin_racing_an_end_creates_nothing(
    livekit_gateway: LiveKitRoomGateway,
    livekit_token_issuer: LiveKitTokenIssuer,
    lk: api.LiveKitAPI,
    user: User,
    recorder: SessionRecorder,
) -> None:
    clock = ShiftedClock()
    clock.offset = GRACE * 2  # every dispatch is stale: each rejoin tries to send the agent
    sessions = sessions_with(
        livekit_gateway, livekit_token_issuer, clock, agent_name=AGENT, recorder=recorder
    )
    started = await sessions.start(user)
    results = await asyncio.gather(
        sessions.end(user, started.room_name),
        *(sessions.rejoin(user, started.room_name) for _ in range(3)),
        return_exceptions=True,
    )
    for result in results[1:]:
        assert not isinstance(result, BaseException) or isinstance(result, (SessionNotFound, GatewayError))
    await asyncio.sleep(1)
    assert started.room_name not in await room_names(lk)
