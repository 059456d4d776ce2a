"""A session's status: who is in the room (the agent counted), whether it is active, when it began."""

from __future__ import annotations

import httpx

from tests.support.apps import parse_utc
from tests.support.constants import BASE
from tests.support.livekit import joined, raw_token
from tests.support.tokens import auth_header
from tests.support.waiting import eventually
from voicecore.core.domain import AgentType, User
from voicecore.core.ports import ParticipantKind
from voicecore.core.sessions import VoiceSessions
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore.testing.livekit_server import LocalLiveKitServer

ALICE = User("alice", "alice@example.com")


async def test_status_counts_everyone_and_spots_the_agent(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    started = await sessions.start(ALICE)
    empty = await sessions.status(ALICE, started.room_name)
    assert (empty.active, empty.participant_count, empty.agent_connected) == (False, 0, False)
    assert empty.created_at == started.created_at

    memory_gateway.join(started.room_name, "alice")
    one = await sessions.status(ALICE, started.room_name)
    assert (one.active, one.participant_count, one.agent_connected) == (True, 1, False)

    memory_gateway.join(started.room_name, "agent-1", ParticipantKind.AGENT)
    two = await sessions.status(ALICE, started.room_name)
    assert (two.active, two.participant_count, two.agent_connected) == (True, 2, True)


async def test_status_reports_participants_and_agent(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    created = (await client.post(BASE, json={}, headers=auth_header("user-1"))).json()
    room = created["room_name"]
    memory_gateway.join(room, "user-1")
    memory_gateway.join(room, "coach", ParticipantKind.AGENT)
    response = await client.get(f"{BASE}/{room}", headers=auth_header("user-1"))
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("room_name", "active", "participant_count", "agent_connected")} == {
        "room_name": room,
        "active": True,
        "participant_count": 2,
        "agent_connected": True,
    }
    parse_utc(body["created_at"])


async def test_an_agent_joining_is_counted_and_seen_by_status_and_list(
    livekit_sessions: VoiceSessions, member: User, livekit_server: LocalLiveKitServer
) -> None:
    started = await livekit_sessions.start(member, AgentType.DIET)
    async with (
        joined(livekit_server.url, started.token),
        joined(livekit_server.url, raw_token(livekit_server, "coach", started.room_name, kind="agent")),
    ):
        status = await eventually(
            lambda: livekit_sessions.status(member, started.room_name),
            lambda s: s.participant_count == 2,
            what="status to count the user and the agent",
        )
        assert (status.participant_count, status.agent_connected) == (2, True)
        [listed] = await livekit_sessions.list(member)
        assert (listed.room_name, listed.agent_type, listed.participant_count) == (
            started.room_name,
            AgentType.DIET,
            2,
        )
