"""Who can join a session's room: the user with the token handed out, an agent, and nobody else.

The token's grants, then the real server with real participants joining by token.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from livekit import api, rtc

from tests.support.constants import TEST_API_SECRET
from tests.support.livekit import joined, raw_token
from tests.support.waiting import eventually
from voicecore.adapters.livekit import LiveKitTokenIssuer
from voicecore.core.domain import AgentType, User
from voicecore.core.sessions import VoiceSessions
from voicecore.testing.livekit_server import LocalLiveKitServer

ALICE = User("alice", "alice@example.com")


async def test_started_token_joins_only_that_room_as_the_user(sessions: VoiceSessions) -> None:
    started = await sessions.start(ALICE)
    claims = jwt.decode(started.token, TEST_API_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice"
    assert claims["name"] == "alice@example.com"
    assert claims["video"]["room"] == started.room_name
    assert claims["video"]["roomJoin"] is True
    assert datetime.fromtimestamp(claims["exp"], UTC) == started.expires_at
    assert claims["exp"] - claims["nbf"] == 6 * 3600


async def test_the_user_joins_with_the_issued_token_and_status_sees_them(
    livekit_sessions: VoiceSessions, member: User, livekit_server: LocalLiveKitServer
) -> None:
    started = await livekit_sessions.start(member, AgentType.WORKOUT)
    async with joined(livekit_server.url, started.token) as room:
        assert room.local_participant.identity == member.id
        assert room.local_participant.name == "member@example.com"
        assert room.name == started.room_name
        status = await eventually(
            lambda: livekit_sessions.status(member, started.room_name),
            lambda s: s.active,
            what="status to see the user who joined with the issued token",
        )
    assert (status.active, status.participant_count, status.agent_connected) == (True, 1, False)
    assert status.created_at == started.created_at


async def test_a_token_for_one_room_cannot_join_another(
    livekit_sessions: VoiceSessions, member: User, livekit_server: LocalLiveKitServer
) -> None:
    room_a = await livekit_sessions.start(member)
    room_b = await livekit_sessions.start(member)
    claims = api.TokenVerifier(livekit_server.api_key, livekit_server.api_secret).verify(room_a.token)
    assert claims.video is not None
    assert claims.video.room == room_a.room_name
    # The token names its room; connecting to "room B" with it still lands in A at
    # most, so prove B never sees this identity while A does.
    async with joined(livekit_server.url, room_a.token) as room:
        assert room.name == room_a.room_name
        status_b = await livekit_sessions.status(member, room_b.room_name)
        assert status_b.participant_count == 0


async def test_a_token_with_room_b_but_signed_grants_for_a_is_refused(
    livekit_server: LocalLiveKitServer, livekit_token_issuer: LiveKitTokenIssuer, member: User
) -> None:
    issued = livekit_token_issuer.issue(member, "fitness-voice-x-0123456789abcdef", timedelta(minutes=5))
    header, _payload, signature = issued.token.split(".")
    other = raw_token(livekit_server, member.id, "fitness-voice-y-0123456789abcdef").split(".")[1]
    with pytest.raises(rtc.ConnectError):  # payload swapped: the signature no longer matches
        async with joined(livekit_server.url, f"{header}.{other}.{signature}"):
            pass


async def test_an_expired_token_is_refused_after_the_servers_one_minute_leeway(
    livekit_sessions: VoiceSessions,
    livekit_server: LocalLiveKitServer,
    livekit_token_issuer: LiveKitTokenIssuer,
    member: User,
) -> None:
    started = await livekit_sessions.start(member)
    # LiveKit validates exp with one minute of leeway (protocol auth/verifier.go).
    just_expired = livekit_token_issuer.issue(member, started.room_name, timedelta(seconds=-5))
    long_expired = livekit_token_issuer.issue(member, started.room_name, timedelta(minutes=-2))
    with pytest.raises(rtc.ConnectError):
        async with joined(livekit_server.url, long_expired.token):
            pass
    assert (await livekit_sessions.status(member, started.room_name)).participant_count == 0
    async with joined(livekit_server.url, just_expired.token):
        status = await eventually(
            lambda: livekit_sessions.status(member, started.room_name),
            lambda s: s.active,
            what="status to see the user who joined with a token expired within the leeway",
        )
        assert status.participant_count == 1


async def test_a_third_person_is_refused_by_max_participants_two(
    livekit_sessions: VoiceSessions, member: User, livekit_server: LocalLiveKitServer
) -> None:
    started = await livekit_sessions.start(member)
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
                lambda: livekit_sessions.status(member, started.room_name),
                lambda s: s.participant_count == 3,
                what="status to count two people and the agent",
            )
            assert (status.participant_count, status.agent_connected) == (3, True)
