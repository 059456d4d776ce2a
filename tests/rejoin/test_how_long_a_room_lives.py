"""How long a room lives: its departure timeout after the last participant leaves, and not a moment
past its end: an ended session cannot be joined again by any of its tokens.

The server runs with ``room.auto_create: false`` (voicecore.testing.livekit_server): the end is
what that setting buys (docs/http-api.md "Connecting a client").
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from livekit import api, rtc

from tests.support.apps import session_path, sessions_with
from tests.support.clocks import ShiftedClock
from tests.support.constants import AGENT_NAME, BASE, DETAILS
from tests.support.livekit import joined, raw_token, room_names, rooms_of, unique_user_id
from tests.support.tokens import auth_header
from tests.support.waiting import eventually
from voicecore.adapters.livekit import LiveKitRoomGateway, LiveKitTokenIssuer
from voicecore.core.domain import User
from voicecore.core.errors import GatewayError, SessionNotFound
from voicecore.core.naming import new_room_name
from voicecore.core.ports import RoomSpec
from voicecore.core.recorder import SessionRecorder
from voicecore.testing.livekit_server import LocalLiveKitServer

GRACE = timedelta(seconds=20)
# livekit-server's own departure timeout, for a room that sets none.
SERVER_DEPARTURE_TIMEOUT = 20


async def test_the_departure_timeout_is_the_rooms_own(
    livekit_gateway: LiveKitRoomGateway, livekit_server: LocalLiveKitServer, lk: api.LiveKitAPI
) -> None:
    short, longer = new_room_name(unique_user_id()), new_room_name(unique_user_id())
    await livekit_gateway.create_room(RoomSpec(short, "{}", 300, 2, departure_timeout_seconds=2))
    await livekit_gateway.create_room(RoomSpec(longer, "{}", 300, 2, departure_timeout_seconds=6))
    infos = (await lk.room.list_rooms(api.ListRoomsRequest(names=[short, longer]))).rooms
    assert {info.name: info.departure_timeout for info in infos} == {short: 2, longer: 6}

    async with (
        joined(livekit_server.url, raw_token(livekit_server, "u", short)),
        joined(livekit_server.url, raw_token(livekit_server, "u", longer)),
    ):
        pass
    # Each closes on its own timeout: the short one first, while the longer one is still open,
    # and well before the server's own default (SERVER_DEPARTURE_TIMEOUT) would have closed either.
    remaining = await eventually(
        lambda: room_names(lk),
        lambda names: short not in names,
        what="the room with the 2 s departure timeout to close",
        within=SERVER_DEPARTURE_TIMEOUT - 5,
    )
    assert longer in remaining
    await eventually(
        lambda: room_names(lk),
        lambda names: longer not in names,
        what="the room with the 6 s departure timeout to close",
        within=SERVER_DEPARTURE_TIMEOUT - 5,
    )


async def test_a_room_outlives_its_last_participant_by_the_policys_departure_timeout(
    livekit_gateway: LiveKitRoomGateway,
    livekit_token_issuer: LiveKitTokenIssuer,
    lk: api.LiveKitAPI,
    member: User,
    recorder: SessionRecorder,
) -> None:
    sessions = sessions_with(
        livekit_gateway, livekit_token_issuer, departure_timeout_seconds=90, recorder=recorder
    )
    started = await sessions.start(member)
    [info] = (await lk.room.list_rooms(api.ListRoomsRequest(names=[started.room_name]))).rooms
    assert (info.departure_timeout, info.empty_timeout) == (90, 300)


async def test_ended_means_ended_the_old_token_cannot_bring_the_room_back(
    livekit_gateway: LiveKitRoomGateway,
    livekit_token_issuer: LiveKitTokenIssuer,
    livekit_server: LocalLiveKitServer,
    lk: api.LiveKitAPI,
    member: User,
    recorder: SessionRecorder,
) -> None:
    sessions = sessions_with(livekit_gateway, livekit_token_issuer, recorder=recorder)
    started = await sessions.start(member)
    async with joined(livekit_server.url, started.token):
        pass
    await sessions.end(member, started.room_name)

    with pytest.raises(rtc.ConnectError, match="does not exist"):
        async with joined(livekit_server.url, started.token):
            pass
    assert started.room_name not in await room_names(lk)
    with pytest.raises(SessionNotFound):
        await sessions.rejoin(member, started.room_name)
    assert await sessions.list(member) == []


async def test_ended_means_ended_no_token_brings_the_room_back(
    agent_service: httpx.AsyncClient, livekit_server: LocalLiveKitServer, lk: api.LiveKitAPI
) -> None:
    user = unique_user_id("member")
    headers = auth_header(user)
    created = (await agent_service.post(BASE, json={}, headers=headers)).json()
    room = created["room_name"]
    [info] = (await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms
    assert info.departure_timeout == 45  # SESSION_DEPARTURE_TIMEOUT_SECONDS reached the room
    rejoin_token = (await agent_service.post(f"{session_path(room)}/token", headers=headers)).json()["token"]
    async with joined(livekit_server.url, created["token"]):
        assert (await agent_service.delete(session_path(room), headers=headers)).status_code == 200

    for token in (created["token"], rejoin_token):
        with pytest.raises(rtc.ConnectError, match="does not exist"):
            async with joined(livekit_server.url, token):
                pass
    assert await rooms_of(lk, user) == set()
    assert (await agent_service.post(f"{session_path(room)}/token", headers=headers)).status_code == 404
    assert (await agent_service.post(DETAILS, json={"room_name": room}, headers=headers)).status_code == 404
    assert await rooms_of(lk, user) == set()


async def test_a_rejoin_racing_an_end_creates_nothing(
    livekit_gateway: LiveKitRoomGateway,
    livekit_token_issuer: LiveKitTokenIssuer,
    lk: api.LiveKitAPI,
    member: User,
    recorder: SessionRecorder,
) -> None:
    clock = ShiftedClock()
    clock.offset = GRACE * 2  # every dispatch is stale: each rejoin tries to send the agent
    sessions = sessions_with(
        livekit_gateway, livekit_token_issuer, clock, agent_name=AGENT_NAME, recorder=recorder
    )
    started = await sessions.start(member)
    results = await asyncio.gather(
        sessions.end(member, started.room_name),
        *(sessions.rejoin(member, started.room_name) for _ in range(3)),
        return_exceptions=True,
    )
    assert results[0] is None  # the end ended it
    for result in results[1:]:
        assert not isinstance(result, BaseException) or isinstance(result, (SessionNotFound, GatewayError))
    # Every call has returned, and nothing else (no participant, no worker) could make the room again.
    assert started.room_name not in await room_names(lk)
