"""Ending a session: the room deleted once, everyone in it disconnected, racing ends answered once."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from livekit import api, rtc

from tests.support.apps import check_error, session_path
from tests.support.constants import BASE, NOT_FOUND
from tests.support.figures import FIGURES
from tests.support.leak_guard import LeakGuard
from tests.support.livekit import joined, unique_user_id
from tests.support.tokens import auth_header
from tests.support.waiting import eventually
from voicecore.core.domain import User
from voicecore.core.errors import SessionNotFound
from voicecore.core.sessions import VoiceSessions
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore.testing.livekit_server import LocalLiveKitServer

ALICE = User("alice", "alice@example.com")


RACING_ENDS = 20


END_ROUNDS = 5


async def test_end_deletes_the_room_once(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    started = await sessions.start(ALICE)
    await sessions.end(ALICE, started.room_name)
    assert memory_gateway.room_names == frozenset()
    with pytest.raises(SessionNotFound):
        await sessions.end(ALICE, started.room_name)


async def test_concurrent_ends_give_exactly_one_success(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    started = await sessions.start(ALICE)
    results = await asyncio.gather(
        *(sessions.end(ALICE, started.room_name) for _ in range(10)), return_exceptions=True
    )
    assert results.count(None) == 1
    assert sum(isinstance(r, SessionNotFound) for r in results) == 9
    assert memory_gateway.room_names == frozenset()


async def test_end_answers_ended_then_404(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    room = (await client.post(BASE, json={}, headers=auth_header("user-1"))).json()["room_name"]
    response = await client.delete(f"{BASE}/{room}", headers=auth_header("user-1"))
    assert (response.status_code, response.json()) == (200, {"status": "ended", "room_name": room})
    assert memory_gateway.room_names == frozenset()
    again = await client.delete(f"{BASE}/{room}", headers=auth_header("user-1"))
    assert (again.status_code, again.json()) == (404, {"detail": "Voice session not found"})


async def test_ending_a_session_disconnects_everyone(
    livekit_sessions: VoiceSessions, member: User, livekit_server: LocalLiveKitServer
) -> None:
    started = await livekit_sessions.start(member)
    async with joined(livekit_server.url, started.token) as room:
        disconnected = asyncio.Event()
        room.on("disconnected", lambda *_: disconnected.set())
        await eventually(
            lambda: livekit_sessions.status(member, started.room_name),
            lambda s: s.active,
            what="status to see the user in the room",
        )
        await livekit_sessions.end(member, started.room_name)
        await asyncio.wait_for(disconnected.wait(), 10)
        assert room.connection_state == rtc.ConnectionState.CONN_DISCONNECTED
    with pytest.raises(SessionNotFound):
        await livekit_sessions.status(member, started.room_name)
    assert await livekit_sessions.list(member) == []


async def test_racing_ends_of_one_session_give_exactly_one_ended(
    livekit_client: httpx.AsyncClient, livekit_server: LocalLiveKitServer, log_leak_guard: LeakGuard
) -> None:
    user = unique_user_id("race")
    headers = auth_header(user)
    async with api.LiveKitAPI(livekit_server.url, livekit_server.api_key, livekit_server.api_secret) as lk:
        for _ in range(END_ROUNDS):
            room = (await livekit_client.post(BASE, json={}, headers=headers)).json()["room_name"]
            answers = await asyncio.gather(
                *(livekit_client.delete(session_path(room), headers=headers) for _ in range(RACING_ENDS))
            )
            statuses = Counter(r.status_code for r in answers)
            assert statuses == {200: 1, 404: RACING_ENDS - 1}, statuses
            [winner] = [r for r in answers if r.status_code == 200]
            assert winner.json() == {"status": "ended", "room_name": room}
            for loser in answers:
                if loser.status_code == 404:
                    check_error(loser, NOT_FOUND, log_leak_guard)
            assert not (await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms
    FIGURES.record(
        "Concurrency (real LiveKit)",
        f"{END_ROUNDS} rounds of {RACING_ENDS} racing ends of one session: "
        f"each exactly one 200 and {RACING_ENDS - 1} x 404",
    )
