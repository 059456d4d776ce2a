"""Listing a user's sessions: theirs only, newest first, whatever the index or LiveKit hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.support.apps import parse_utc
from tests.support.constants import BASE
from tests.support.tokens import auth_header
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitTokenIssuer
from voicecore.core.domain import AgentType, User
from voicecore.core.ports import ParticipantKind
from voicecore.core.recorder import SessionRecorder
from voicecore.core.session_record import SessionRecord
from voicecore.core.sessions import VoiceSessions
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway

ALICE = User("alice", "alice@example.com")


BOB = User("bob", "bob@example.com")


NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


async def test_list_shows_only_the_callers_rooms_newest_first(
    memory_gateway: InMemoryRoomGateway,
    token_issuer: LiveKitTokenIssuer,
    recorder: SessionRecorder,
) -> None:
    ticks = iter(NOON + timedelta(minutes=m) for m in range(10))
    sessions = VoiceSessions(
        memory_gateway,
        token_issuer,
        clock=lambda: next(ticks),
        store=InProcessSessionStore(),
        recorder=recorder,
    )
    first = await sessions.start(ALICE, AgentType.DIET)
    await sessions.start(User("alice-2"))  # a name that starts like alice's
    await sessions.start(BOB)
    second = await sessions.start(ALICE, AgentType.TRACKER)
    memory_gateway.join(second.room_name, "alice")
    memory_gateway.join(second.room_name, "agent", ParticipantKind.AGENT)

    listed = await sessions.list(ALICE)
    assert [(s.room_name, s.agent_type, s.participant_count) for s in listed] == [
        (second.room_name, AgentType.TRACKER, 2),
        (first.room_name, AgentType.DIET, 0),
    ]
    assert listed[1].created_at == NOON
    assert await sessions.list(User("carol")) == []


async def test_list_filters_whatever_the_gateway_returns(
    memory_gateway: InMemoryRoomGateway,
    token_issuer: LiveKitTokenIssuer,
    recorder: SessionRecorder,
) -> None:
    store = InProcessSessionStore()
    sessions = VoiceSessions(memory_gateway, token_issuer, store=store, recorder=recorder)
    mine = await sessions.start(ALICE)
    bobs = await sessions.start(BOB)
    # An index that went wrong (another user's room, a room with foreign metadata under
    # alice's name) never makes a listing show what alice does not own.
    forged = "fitness-voice-alice-0123456789abcdef"
    memory_gateway.put_room(forged, "garbage")
    await store.add_session(SessionRecord(forged, ALICE.id, "general", NOON))
    await store.add_session(SessionRecord(bobs.room_name, ALICE.id, "general", NOON))
    assert [s.room_name for s in await sessions.list(ALICE)] == [mine.room_name]


async def test_list_shows_only_the_callers_sessions(client: httpx.AsyncClient) -> None:
    assert (await client.get(BASE, headers=auth_header("user-1"))).json() == {"sessions": []}
    mine = (await client.post(BASE, json={"agent_type": "diet"}, headers=auth_header("user-1"))).json()
    await client.post(BASE, json={}, headers=auth_header("user-1-2"))
    response = await client.get(BASE, headers=auth_header("user-1"))
    assert response.status_code == 200
    [item] = response.json()["sessions"]
    assert set(item) == {
        "room_name",
        "agent_type",
        "participant_count",
        "agent_connected",
        "agent_state",
        "created_at",
        "ends_at",
    }
    # The default length cap (SESSION_MAX_DURATION_SECONDS, an hour) and no allowance: an hour on.
    ends_at = datetime.fromisoformat(item["ends_at"]) - datetime.fromisoformat(item["created_at"])
    assert ends_at == timedelta(hours=1)
    assert (item["room_name"], item["agent_type"], item["participant_count"], item["agent_state"]) == (
        mine["room_name"],
        "diet",
        0,
        "pending",  # nobody is waiting for an agent yet
    )
    parse_utc(item["created_at"])
