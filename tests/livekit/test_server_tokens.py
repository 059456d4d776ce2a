"""The LiveKit adapter's server tokens: reused safely, and exactly what livekit-api would sign."""

from __future__ import annotations

import aiohttp
import jwt
from livekit import api
from livekit.api.room_service import RoomService

from tests.support.clocks import StoppedEpochClock
from tests.support.constants import TEST_API_KEY, TEST_API_SECRET
from voicecore.adapters.livekit.server_tokens import SERVER_TOKEN_TTL, ReusingRoomService, ServerTokens


def _claims(header: dict[str, str]) -> dict[str, object]:
    token = header["authorization"].removeprefix("Bearer ")
    claims: dict[str, object] = jwt.decode(token, TEST_API_SECRET, algorithms=["HS256"])
    return claims


def test_a_server_token_carries_exactly_the_grants_livekit_api_would_sign() -> None:
    grants = api.VideoGrants(room_admin=True, room="fitness-voice-u-1-0123456789abcdef")
    ours = _claims(ServerTokens(TEST_API_KEY, TEST_API_SECRET).header(grants))
    theirs = _claims(_bare_room_service()._auth_header(grants))  # what livekit-api sends
    assert {k: v for k, v in ours.items() if k not in ("nbf", "exp")} == {
        k: v for k, v in theirs.items() if k not in ("nbf", "exp")
    }
    assert ours["exp"] - ours["nbf"] == SERVER_TOKEN_TTL.total_seconds()  # type: ignore[operator]


def _bare_room_service() -> RoomService:
    service = object.__new__(RoomService)
    service.api_key, service.api_secret, service._token = TEST_API_KEY, TEST_API_SECRET, None
    return service


def test_server_tokens_are_reused_for_equal_grants_until_half_their_life_is_gone() -> None:
    clock = StoppedEpochClock(100.0)
    tokens = ServerTokens(TEST_API_KEY, TEST_API_SECRET, clock=clock)
    first = tokens.header(api.VideoGrants(room_create=True))
    assert tokens.header(api.VideoGrants(room_create=True)) is first
    clock.now += SERVER_TOKEN_TTL.total_seconds() / 2 - 1
    assert tokens.header(api.VideoGrants(room_create=True)) is first
    clock.now += 1
    renewed = tokens.header(api.VideoGrants(room_create=True))
    assert renewed is not first
    assert tokens.header(api.VideoGrants(room_create=True)) is renewed


def test_different_grants_never_share_a_server_token() -> None:
    tokens = ServerTokens(TEST_API_KEY, TEST_API_SECRET, clock=StoppedEpochClock(100.0))
    admin_a = _claims(tokens.header(api.VideoGrants(room_admin=True, room="room-a")))
    admin_b = _claims(tokens.header(api.VideoGrants(room_admin=True, room="room-b")))
    create = _claims(tokens.header(api.VideoGrants(room_create=True)))
    listing = _claims(tokens.header(api.VideoGrants(room_list=True)))
    assert [c["video"] for c in (admin_a, admin_b, create, listing)] == [
        {
            "roomAdmin": True,
            "room": "room-a",
            "canPublish": True,
            "canSubscribe": True,
            "canPublishData": True,
        },
        {
            "roomAdmin": True,
            "room": "room-b",
            "canPublish": True,
            "canSubscribe": True,
            "canPublishData": True,
        },
        {"roomCreate": True, "canPublish": True, "canSubscribe": True, "canPublishData": True},
        {"roomList": True, "canPublish": True, "canSubscribe": True, "canPublishData": True},
    ]
    # Same key fields, different grants elsewhere: signed anew, not reused.
    hidden = api.VideoGrants(room_admin=True, room="room-a", hidden=True)
    assert _claims(tokens.header(hidden))["video"] == {**admin_a["video"], "hidden": True}  # type: ignore[dict-item]


def test_only_the_most_recently_used_server_tokens_are_kept() -> None:
    tokens = ServerTokens(TEST_API_KEY, TEST_API_SECRET, clock=StoppedEpochClock(100.0))
    kept = tokens.header(api.VideoGrants(room_list=True))
    for i in range(2000):
        tokens.header(api.VideoGrants(room_admin=True, room=f"room-{i}"))
        tokens.header(api.VideoGrants(room_list=True))  # stays in use
    assert len(tokens) == 1024
    assert tokens.header(api.VideoGrants(room_list=True)) is kept


async def test_the_room_service_takes_its_authorization_from_the_server_tokens() -> None:
    tokens = ServerTokens(TEST_API_KEY, TEST_API_SECRET, clock=StoppedEpochClock(100.0))
    async with aiohttp.ClientSession() as session:
        service = ReusingRoomService(session, "ws://127.0.0.1:7880", TEST_API_KEY, TEST_API_SECRET, tokens)
        header = service._auth_header(api.VideoGrants(room_list=True))
        assert header is tokens.header(api.VideoGrants(room_list=True))
        # SIP grants are not cached: livekit-api signs those itself.
        sip = service._auth_header(api.VideoGrants(room_list=True), api.SIPGrants(admin=True))
        assert sip is not header
        assert "sip" in _claims(sip)
