"""Starting a session: the room made and its settings, the token handed out, what the request may say.

On the in-memory gateway and, where the server's view matters (the agent dispatch), the real one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from livekit import api

from tests.support.apps import check_clean_body, parse_utc
from tests.support.constants import BASE, CONFIGURED_LIVEKIT_URL, TEST_API_SECRET
from tests.support.leak_guard import LeakGuard
from tests.support.tokens import auth_header
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitRoomGateway, LiveKitTokenIssuer
from voicecore.core.domain import AgentType, SessionMode, SessionPolicy, User, parse_agent_type
from voicecore.core.errors import GatewayError, InvalidUserId, UnknownAgentType
from voicecore.core.metadata import RoomMetadata
from voicecore.core.recorder import SessionRecorder
from voicecore.core.sessions import VoiceSessions
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore.testing.livekit_server import LocalLiveKitServer

ALICE = User("alice", "alice@example.com")


BOB = User("bob", "bob@example.com")


NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


# --- the room and its settings ---------------------------------------------------


async def test_start_creates_a_room_with_the_required_settings_and_metadata(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    started = await sessions.start(ALICE, AgentType.WORKOUT)

    assert memory_gateway.room_names == {started.room_name}
    spec = memory_gateway.spec_of(started.room_name)
    assert spec.empty_timeout_seconds == 300
    assert spec.max_participants == 2
    assert spec.agent_dispatch is None
    metadata = RoomMetadata.decode(spec.metadata)
    assert metadata.user_id == "alice"
    assert metadata.agent_type is AgentType.WORKOUT
    assert metadata.mode is SessionMode.VOICE
    assert metadata.created_at == started.created_at
    assert started.agent_type is AgentType.WORKOUT


async def test_start_defaults_to_the_general_agent(sessions: VoiceSessions) -> None:
    started = await sessions.start(ALICE)
    assert started.agent_type is AgentType.GENERAL
    [summary] = await sessions.list(ALICE)
    assert summary.agent_type is AgentType.GENERAL


async def test_start_uses_the_configured_policy(
    memory_gateway: InMemoryRoomGateway, recorder: SessionRecorder
) -> None:
    policy = SessionPolicy(
        token_ttl=timedelta(minutes=30), empty_timeout_seconds=60, max_participants=3, agent_name="coach"
    )
    sessions = VoiceSessions(
        memory_gateway,
        LiveKitTokenIssuer("k", TEST_API_SECRET, server_url=CONFIGURED_LIVEKIT_URL),
        policy,
        store=InProcessSessionStore(),
        recorder=recorder,
    )
    started = await sessions.start(BOB, AgentType.DIET)

    spec = memory_gateway.spec_of(started.room_name)
    assert (spec.empty_timeout_seconds, spec.max_participants) == (60, 3)
    assert spec.agent_dispatch is not None
    assert spec.agent_dispatch.agent_name == "coach"
    assert json.loads(spec.agent_dispatch.metadata) == {
        "user_id": "bob",
        "agent_type": "diet",
        "room_name": started.room_name,
    }
    claims = jwt.decode(started.token, TEST_API_SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["nbf"] == 30 * 60


async def test_start_refuses_a_user_id_that_cannot_name_a_room(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    with pytest.raises(InvalidUserId):
        await sessions.start(User("bad id"))
    assert memory_gateway.room_names == frozenset()


async def test_start_never_reports_a_room_that_already_existed(
    memory_gateway: InMemoryRoomGateway,
    token_issuer: LiveKitTokenIssuer,
    monkeypatch: pytest.MonkeyPatch,
    recorder: SessionRecorder,
) -> None:
    # Every name drawn is already taken by someone else's room.
    taken = "fitness-voice-alice-0000000000000000"
    squatter = RoomMetadata("mallory", AgentType.GENERAL, SessionMode.VOICE, NOON).encode()
    memory_gateway.put_room(taken, squatter)
    monkeypatch.setattr("voicecore.core.creation.new_room_name", lambda _user_id: taken)
    sessions = VoiceSessions(memory_gateway, token_issuer, store=InProcessSessionStore(), recorder=recorder)

    with pytest.raises(GatewayError, match="fresh room name"):
        await sessions.start(ALICE)
    assert memory_gateway.room_names == {taken}
    assert memory_gateway.spec_of(taken).metadata == squatter


async def test_start_draws_another_name_after_a_collision(
    memory_gateway: InMemoryRoomGateway,
    token_issuer: LiveKitTokenIssuer,
    monkeypatch: pytest.MonkeyPatch,
    recorder: SessionRecorder,
) -> None:
    taken = "fitness-voice-alice-0000000000000000"
    memory_gateway.put_room(taken, "not ours")
    names = iter([taken, "fitness-voice-alice-1111111111111111"])
    monkeypatch.setattr("voicecore.core.creation.new_room_name", lambda _user_id: next(names))
    sessions = VoiceSessions(memory_gateway, token_issuer, store=InProcessSessionStore(), recorder=recorder)
    started = await sessions.start(ALICE)
    assert started.room_name == "fitness-voice-alice-1111111111111111"
    assert [s.room_name for s in await sessions.list(ALICE)] == [started.room_name]


@given(st.sampled_from(AgentType))
def test_an_agent_type_may_be_given_by_its_value(agent_type: AgentType) -> None:
    assert parse_agent_type(agent_type.value) is agent_type
    assert parse_agent_type(agent_type) is agent_type


@given(st.text().filter(lambda s: s not in set(AgentType)))
@example("Diet")
@example("")
def test_an_unknown_agent_type_is_a_clear_error(value: str) -> None:
    with pytest.raises(UnknownAgentType, match="expected one of workout, diet"):
        parse_agent_type(value)


async def test_with_an_agent_name_the_dispatch_is_on_the_room(
    livekit_gateway: LiveKitRoomGateway,
    livekit_server: LocalLiveKitServer,
    member: User,
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
    started = await sessions.start(member, AgentType.SUPPLEMENT)
    async with api.LiveKitAPI(livekit_server.url, livekit_server.api_key, livekit_server.api_secret) as lk:
        [dispatch] = await lk.agent_dispatch.list_dispatch(started.room_name)
    assert dispatch.agent_name == "fitness-coach"
    assert dispatch.room == started.room_name
    assert '"agent_type": "supplement"' in dispatch.metadata
    assert f'"user_id": "{member.id}"' in dispatch.metadata


async def test_without_an_agent_name_automatic_dispatch_applies(
    livekit_sessions: VoiceSessions, livekit_server: LocalLiveKitServer, member: User
) -> None:
    started = await livekit_sessions.start(member)
    async with api.LiveKitAPI(livekit_server.url, livekit_server.api_key, livekit_server.api_secret) as lk:
        dispatches = await lk.agent_dispatch.list_dispatch(started.room_name)
    # The server's own automatic dispatch (no agent name), and nothing named by us.
    assert [d.agent_name for d in dispatches] == [""]


# --- POST /api/v1/voice-sessions ------------------------------------------------------


async def test_create_answers_201_with_the_contract(client: httpx.AsyncClient) -> None:
    response = await client.post(
        BASE, json={"agent_type": "workout"}, headers=auth_header("user-1", "u1@example.com")
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"room_name", "token", "livekit_url", "agent_type", "expires_at", "ends_at"}
    # The default length cap (an hour), counted from the session's creation a moment ago.
    until_the_cap = datetime.fromisoformat(body["ends_at"]) - datetime.now(UTC)
    assert timedelta(minutes=59) < until_the_cap <= timedelta(hours=1)
    assert body["room_name"].startswith("fitness-voice-user-1-")
    assert body["livekit_url"] == CONFIGURED_LIVEKIT_URL
    assert body["agent_type"] == "workout"
    claims = jwt.decode(body["token"], TEST_API_SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["name"], claims["video"]["room"]) == (
        "user-1",
        "u1@example.com",
        body["room_name"],
    )
    assert parse_utc(body["expires_at"]).timestamp() == claims["exp"]


@pytest.mark.parametrize("kwargs", [{"json": {}}, {}, {"content": b""}])
async def test_agent_type_defaults_to_general(client: httpx.AsyncClient, kwargs: dict[str, object]) -> None:
    response = await client.post(BASE, headers=auth_header("user-1"), **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 201
    assert response.json()["agent_type"] == "general"


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"agent_type": "yoga"}, "agent_type"),
        ({"agent_type": None}, "agent_type"),
        ({"agent_type": "workout", "extra": 1}, "extra"),
        ([], "body"),
    ],
)
async def test_invalid_bodies_are_422_and_create_nothing(
    client: httpx.AsyncClient,
    memory_gateway: InMemoryRoomGateway,
    body: object,
    mentions: str,
) -> None:
    response = await client.post(BASE, json=body, headers=auth_header("user-1"))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert mentions in detail
    assert memory_gateway.room_names == frozenset()


async def test_malformed_json_is_422_and_creates_nothing(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    response = await client.post(
        BASE,
        content=b'{"agent_type": "diet"',
        headers={**auth_header("user-1"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert list(response.json()) == ["detail"]
    assert memory_gateway.room_names == frozenset()


@pytest.mark.parametrize(
    "body",
    [b"\xc3\x28", b'{"agent_type": "\xe9"}', b"\x80"],
    ids=["invalid-pair", "latin-1-inside-json", "lone-continuation-byte"],
)
async def test_a_body_that_is_not_utf8_is_the_documented_422(
    client: httpx.AsyncClient,
    memory_gateway: InMemoryRoomGateway,
    log_leak_guard: LeakGuard,
    body: bytes,
) -> None:
    response = await client.post(
        BASE, content=body, headers={**auth_header("user-1"), "Content-Type": "application/json"}
    )
    assert memory_gateway.room_names == frozenset()  # holds today: nothing is created
    check_clean_body(response.text, log_leak_guard)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("Invalid request")


async def test_a_body_nested_past_the_parsers_limit_is_the_documented_422(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway, log_leak_guard: LeakGuard
) -> None:
    # Deeper than the JSON parser's recursion limit, and within HTTP_MAX_BODY_BYTES.
    response = await client.post(
        BASE, content=b"[" * 5_000, headers={**auth_header("user-1"), "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json() == {"detail": "Invalid request: body: not valid JSON"}
    assert memory_gateway.room_names == frozenset()
    check_clean_body(response.text, log_leak_guard)


async def test_a_user_id_that_cannot_name_a_room_is_422_not_500(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    response = await client.post(BASE, json={}, headers=auth_header("user with spaces"))
    assert response.status_code == 422
    assert "user id" in response.json()["detail"]
    assert memory_gateway.room_names == frozenset()
