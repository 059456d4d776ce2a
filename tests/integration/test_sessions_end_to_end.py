"""The use cases on the real server, with real participants joining by issued token."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from livekit import api, rtc

from tests.support.livekit import eventually, joined, raw_token, unique_user_id
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitRoomGateway, LiveKitTokenIssuer
from voicecore.core.domain import AgentType, SessionPolicy, User
from voicecore.core.errors import GatewayError, NotSessionOwner, SessionNotFound
from voicecore.core.recorder import SessionRecorder
from voicecore.core.sessions import VoiceSessions
from voicecore.testing.livekit_server import LocalLiveKitServer


@pytest.fixture
def sessions(
    livekit_gateway: LiveKitRoomGateway, livekit_token_issuer: LiveKitTokenIssuer, recorder: SessionRecorder
) -> VoiceSessions:
    return VoiceSessions(
        livekit_gateway, livekit_token_issuer, store=InProcessSessionStore(), recorder=recorder
    )


@pytest.fixture
def user() -> User:
    return User(unique_user_id("member"), "member@example.com")


async def test_the_user_joins_with_the_issued_token_and_status_sees_them(
    sessions: VoiceSessions, user: User, livekit_server: LocalLiveKitServer
) -> None:
    started = await sessions.start(user, AgentType.WORKOUT)
    async with joined(livekit_server.url, started.token) as room:
        assert room.local_participant.identity == user.id
        assert room.local_participant.name == "member@example.com"
        assert room.name == started.room_name
        status = await eventually(lambda: sessions.status(user, started.room_name), lambda s: s.active)
    assert (status.active, status.participant_count, status.agent_connected) == (True, 1, False)
    assert status.created_at == started.created_at


async def test_an_agent_joining_is_counted_and_seen_by_status_and_list(
    sessions: VoiceSessions, user: User, livekit_server: LocalLiveKitServer
) -> None:
    started = await sessions.start(user, AgentType.DIET)
    async with (
        joined(livekit_server.url, started.token),
        joined(livekit_server.url, raw_token(livekit_server, "coach", started.room_name, kind="agent")),
    ):
        status = await eventually(
            lambda: sessions.status(user, started.room_name), lambda s: s.participant_count == 2
        )
        assert (status.participant_count, status.agent_connected) == (2, True)
        [listed] = await sessions.list(user)
        assert (listed.room_name, listed.agent_type, listed.participant_count) == (
            started.room_name,
            AgentType.DIET,
            2,
        )


async def test_a_token_for_one_room_cannot_join_another(
    sessions: VoiceSessions, user: User, livekit_server: LocalLiveKitServer
) -> None:
    room_a = await sessions.start(user)
    room_b = await sessions.start(user)
    claims = api.TokenVerifier(livekit_server.api_key, livekit_server.api_secret).verify(room_a.token)
    assert claims.video is not None
    assert claims.video.room == room_a.room_name
    # The token names its room; connecting to "room B" with it still lands in A at
    # most, so prove B never sees this identity while A does.
    async with joined(livekit_server.url, room_a.token) as room:
        assert room.name == room_a.room_name
        status_b = await sessions.status(user, room_b.room_name)
        assert status_b.participant_count == 0


async def test_a_token_with_room_b_but_signed_grants_for_a_is_refused(
    livekit_server: LocalLiveKitServer, livekit_token_issuer: LiveKitTokenIssuer, user: User
) -> None:
    issued = livekit_token_issuer.issue(user, "fitness-voice-x-0123456789abcdef", timedelta(minutes=5))
    header, _payload, signature = issued.token.split(".")
    other = raw_token(livekit_server, user.id, "fitness-voice-y-0123456789abcdef").split(".")[1]
    with pytest.raises(rtc.ConnectError):  # payload swapped: the signature no longer matches
        async with joined(livekit_server.url, f"{header}.{other}.{signature}"):
            pass


async def test_an_expired_token_is_refused_after_the_servers_one_minute_leeway(
    sessions: VoiceSessions,
    livekit_server: LocalLiveKitServer,
    livekit_token_issuer: LiveKitTokenIssuer,
    user: User,
) -> None:
    started = await sessions.start(user)
    # LiveKit validates exp with one minute of leeway (protocol auth/verifier.go).
    just_expired = livekit_token_issuer.issue(user, started.room_name, timedelta(seconds=-5))
    long_expired = livekit_token_issuer.issue(user, started.room_name, timedelta(minutes=-2))
    with pytest.raises(rtc.ConnectError):
        async with joined(livekit_server.url, long_expired.token):
            pass
    assert (await sessions.status(user, started.room_name)).participant_count == 0
    async with joined(livekit_server.url, just_expired.token):
        status = await eventually(lambda: sessions.status(user, started.room_name), lambda s: s.active)
        assert status.participant_count == 1


async def test_a_third_person_is_refused_by_max_participants_two(
    sessions: VoiceSessions, user: User, livekit_server: LocalLiveKitServer
) -> None:
    started = await sessions.start(user)
    async with (
        joined(livekit_server.url, started.token),
        joined(livekit_server.url, raw_token(livekit_server, "friend", started.room_name)),
    ):
        with pytest.raises(rtc.ConnectError):
            async with joined(livekit_server.url, raw_token(livekit_server, "stranger", started.room_name)):
                pass
        async with joined(
            livekit_server.url, raw_token(livekit_server, "coach", started.room_name, kind="agent")
        ):
            status = await eventually(
                lambda: sessions.status(user, started.room_name), lambda s: s.participant_count == 3
            )
            assert (status.participant_count, status.agent_connected) == (3, True)


async def test_ending_a_session_disconnects_everyone(
    sessions: VoiceSessions, user: User, livekit_server: LocalLiveKitServer
) -> None:
    started = await sessions.start(user)
    async with joined(livekit_server.url, started.token) as room:
        disconnected = asyncio.Event()
        room.on("disconnected", lambda *_: disconnected.set())
        await eventually(lambda: sessions.status(user, started.room_name), lambda s: s.active)
        await sessions.end(user, started.room_name)
        await asyncio.wait_for(disconnected.wait(), 10)
        assert room.connection_state == rtc.ConnectionState.CONN_DISCONNECTED
    with pytest.raises(SessionNotFound):
        await sessions.status(user, started.room_name)
    assert await sessions.list(user) == []


async def test_other_users_cannot_reach_the_session(sessions: VoiceSessions, user: User) -> None:
    started = await sessions.start(user)
    intruder = User(unique_user_id("intruder"))
    with pytest.raises(NotSessionOwner):
        await sessions.status(intruder, started.room_name)
    with pytest.raises(NotSessionOwner):
        await sessions.end(intruder, started.room_name)
    assert await sessions.list(intruder) == []
    assert [s.room_name for s in await sessions.list(user)] == [started.room_name]


async def test_with_an_agent_name_the_dispatch_is_on_the_room(
    livekit_gateway: LiveKitRoomGateway,
    livekit_server: LocalLiveKitServer,
    user: User,
    recorder: SessionRecorder,
) -> None:
    policy = SessionPolicy(agent_name="fitness-coach")
    sessions = VoiceSessions(
        livekit_gateway,
        LiveKitTokenIssuer(livekit_server.api_key, livekit_server.api_secret, server_url=livekit_server.url),
        policy,
        store=InProcessSessionStore(),
        recorder=recorder,
    )
    started = await sessions.start(user, AgentType.SUPPLEMENT)
    async with api.LiveKitAPI(livekit_server.url, livekit_server.api_key, livekit_server.api_secret) as lk:
        [dispatch] = await lk.agent_dispatch.list_dispatch(started.room_name)
    assert dispatch.agent_name == "fitness-coach"
    assert dispatch.room == started.room_name
    assert '"agent_type": "supplement"' in dispatch.metadata
    assert f'"user_id": "{user.id}"' in dispatch.metadata


async def test_without_an_agent_name_automatic_dispatch_applies(
    sessions: VoiceSessions, livekit_server: LocalLiveKitServer, user: User
) -> None:
    started = await sessions.start(user)
    async with api.LiveKitAPI(livekit_server.url, livekit_server.api_key, livekit_server.api_secret) as lk:
        dispatches = await lk.agent_dispatch.list_dispatch(started.room_name)
    # The server's own automatic dispatch (no agent name), and nothing named by us.
    assert [d.agent_name for d in dispatches] == [""]


@pytest.mark.slow
async def test_a_stopped_server_fails_fast_and_the_same_client_recovers(
    livekit_server: LocalLiveKitServer,
    livekit_token_issuer: LiveKitTokenIssuer,
    user: User,
    recorder: SessionRecorder,
) -> None:
    gateway = LiveKitRoomGateway(
        livekit_server.url, livekit_server.api_key, livekit_server.api_secret, timeout_seconds=2
    )
    sessions = VoiceSessions(gateway, livekit_token_issuer, store=InProcessSessionStore(), recorder=recorder)
    try:
        started = await sessions.start(user)
        livekit_server.stop()
        try:
            for call in (
                lambda: sessions.start(user),
                lambda: sessions.status(user, started.room_name),
                lambda: sessions.end(user, started.room_name),
                lambda: sessions.list(user),
            ):
                began = time.monotonic()
                with pytest.raises(GatewayError):
                    await call()
                assert time.monotonic() - began < 2.5
        finally:
            livekit_server.start()
        again = await sessions.start(user)  # same gateway, same aiohttp session
        assert [s.room_name for s in await sessions.list(user)] == [again.room_name]
    finally:
        await gateway.aclose()
