"""Whose session a room is: its metadata's user, in a name made for that user; nobody else's, ever.

403 only for a session whose metadata names another user; 404 for what is missing, impossible
or not a voice session at all (docs/http-api.md "Answers"). The state machines are
test_ownership_state_machine.py (use cases) and api_contract/test_http_state_machine.py (HTTP).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import httpx
import pytest

from tests.support.constants import BASE
from tests.support.livekit import unique_user_id
from tests.support.tokens import auth_header
from voicecore.core.domain import AgentType, SessionMode, User
from voicecore.core.errors import GatewayError, NotSessionOwner, SessionNotFound
from voicecore.core.metadata import RoomMetadata
from voicecore.core.sessions import VoiceSessions
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway

ALICE = User("alice", "alice@example.com")


BOB = User("bob", "bob@example.com")


NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


async def test_status_of_someone_elses_room_is_refused(sessions: VoiceSessions) -> None:
    started = await sessions.start(ALICE)
    with pytest.raises(NotSessionOwner):
        await sessions.status(BOB, started.room_name)


async def test_end_of_someone_elses_room_changes_nothing(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    started = await sessions.start(ALICE)
    with pytest.raises(NotSessionOwner):
        await sessions.end(BOB, started.room_name)
    assert memory_gateway.room_names == {started.room_name}


async def test_ownership_is_the_metadata_and_the_name_never_grants_anything(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    # Named for bob, metadata says alice: not a voice session, for either of them.
    name = "fitness-voice-bob-0123456789abcdef"
    memory_gateway.put_room(name, RoomMetadata("alice", AgentType.DIET, SessionMode.VOICE, NOON).encode())
    for user in (ALICE, BOB):
        with pytest.raises(SessionNotFound):
            await sessions.status(user, name)
        with pytest.raises(SessionNotFound):
            await sessions.end(user, name)
        assert await sessions.list(user) == []
    assert memory_gateway.room_names == {name}
    # Named for alice and metadata alice: alice's, and bob is refused by the metadata.
    mine = "fitness-voice-alice-0123456789abcdef"
    memory_gateway.put_room(mine, RoomMetadata("alice", AgentType.DIET, SessionMode.VOICE, NOON).encode())
    assert (await sessions.status(ALICE, mine)).room_name == mine
    with pytest.raises(NotSessionOwner):
        await sessions.status(BOB, mine)


async def test_status_judges_ownership_before_a_participants_failure(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    started = await sessions.start(ALICE)
    memory_gateway.fail("list_participants")
    with pytest.raises(NotSessionOwner):
        await sessions.status(BOB, started.room_name)
    with pytest.raises(SessionNotFound):
        await sessions.status(ALICE, "fitness-voice-alice-0123456789abcdef")
    with pytest.raises(GatewayError):
        await sessions.status(ALICE, started.room_name)


@pytest.mark.parametrize(
    "metadata",
    ["", "{}", "not json", json.dumps({"user_id": "alice"}), '{"v":2,"user_id":"alice"}'],
)
async def test_rooms_without_readable_metadata_belong_to_nobody(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway, metadata: str
) -> None:
    name = "fitness-voice-alice-0123456789abcdef"
    memory_gateway.put_room(name, metadata)
    with pytest.raises(SessionNotFound):
        await sessions.status(ALICE, name)
    with pytest.raises(SessionNotFound):
        await sessions.end(ALICE, name)
    assert await sessions.list(ALICE) == []
    assert memory_gateway.room_names == {name}


async def test_missing_and_impossible_rooms_are_not_found_without_asking_the_gateway(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    with pytest.raises(SessionNotFound):
        await sessions.status(ALICE, "fitness-voice-alice-0123456789abcdef")
    # With the gateway down, impossible names still answer "not found": they never reach it.
    memory_gateway.fail("get_room", "list_participants", "delete_room")
    for name in ["x" * 300, "fitness-voice-alice\x00", "../etc/passwd", ""]:
        with pytest.raises(SessionNotFound):
            await sessions.status(ALICE, name)
        with pytest.raises(SessionNotFound):
            await sessions.end(ALICE, name)


async def test_someone_elses_session_is_403_and_left_alone(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    room = (await client.post(BASE, json={}, headers=auth_header("owner"))).json()["room_name"]
    for method in ("GET", "DELETE"):
        response = await client.request(method, f"{BASE}/{room}", headers=auth_header("intruder"))
        assert (response.status_code, response.json()) == (
            403,
            {"detail": "This voice session belongs to another user"},
        )
    assert memory_gateway.room_names == {room}


async def test_a_refused_access_is_logged_at_warning_with_the_caller(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    room = (await client.post(BASE, json={}, headers=auth_header("owner"))).json()["room_name"]
    caplog.set_level(logging.INFO)
    await client.get(f"{BASE}/{room}", headers=auth_header("intruder"))
    [refused] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert refused.getMessage() == "voice session access refused: not the owner"
    assert (refused.user_id, refused.room_name) == ("intruder", room)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "name",
    [
        "fitness-voice-user-1-0123456789abcdef",  # well-formed but missing
        "x" * 5000,
        "fitness-voice-user-1-0123456789abcdef%00",
        "%00",
        "fitness voice",
        "fitness-voice-%C3%BCser-0123456789abcdef",
        "..",
    ],
)
async def test_impossible_or_missing_names_are_404_without_reaching_livekit(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway, name: str
) -> None:
    if name != "fitness-voice-user-1-0123456789abcdef":
        memory_gateway.fail("get_room", "list_participants", "delete_room")  # would be a 500
    for method in ("GET", "DELETE"):
        response = await client.request(method, f"{BASE}/{name}", headers=auth_header("user-1"))
        assert response.status_code == 404, (method, name, response.text)
        assert list(response.json()) == ["detail"]


async def test_another_user_gets_403_and_the_room_survives(livekit_client: httpx.AsyncClient) -> None:
    owner, intruder = auth_header(unique_user_id("owner")), auth_header(unique_user_id("intruder"))
    room_name = (await livekit_client.post(BASE, json={}, headers=owner)).json()["room_name"]
    assert (await livekit_client.get(f"{BASE}/{room_name}", headers=intruder)).status_code == 403
    assert (await livekit_client.delete(f"{BASE}/{room_name}", headers=intruder)).status_code == 403
    assert (await livekit_client.get(BASE, headers=intruder)).json() == {"sessions": []}
    assert (await livekit_client.get(f"{BASE}/{room_name}", headers=owner)).status_code == 200


@pytest.mark.parametrize("name", ["x" * 300, "a%00b", "fitness-voice-u-0123456789abcdef"])
async def test_impossible_and_missing_names_are_404_on_the_real_server(
    livekit_client: httpx.AsyncClient, name: str
) -> None:
    headers = auth_header(unique_user_id())
    for method in ("GET", "DELETE"):
        response = await livekit_client.request(method, f"{BASE}/{name}", headers=headers)
        assert response.status_code == 404


async def test_other_users_cannot_reach_the_session(livekit_sessions: VoiceSessions, member: User) -> None:
    started = await livekit_sessions.start(member)
    intruder = User(unique_user_id("intruder"))
    with pytest.raises(NotSessionOwner):
        await livekit_sessions.status(intruder, started.room_name)
    with pytest.raises(NotSessionOwner):
        await livekit_sessions.end(intruder, started.room_name)
    assert await livekit_sessions.list(intruder) == []
    assert [s.room_name for s in await livekit_sessions.list(member)] == [started.room_name]
