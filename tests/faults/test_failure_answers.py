"""What a failure looks like from outside: a GatewayError in the library, one plain 500 over HTTP.

A LiveKit failure is the documented 500 sentence, logged at ERROR with its context; a bug is
"Internal server error" with the request id, logged once; and the same client recovers.
The injected network faults are test_livekit_faults.py.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from tests.support.constants import BASE
from tests.support.tokens import auth_header
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitRoomGateway, LiveKitTokenIssuer
from voicecore.core.domain import User
from voicecore.core.errors import GatewayError
from voicecore.core.recorder import SessionRecorder
from voicecore.core.sessions import VoiceSessions
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore.testing.livekit_server import LocalLiveKitServer

# What a deadline may overrun by on a loaded 2-core machine.
DEADLINE_MARGIN = 10.0
ALICE = User("alice", "alice@example.com")


async def test_gateway_failures_surface_as_gateway_errors(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    started = await sessions.start(ALICE)
    memory_gateway.fail("create_room", "get_room", "get_rooms", "delete_room")
    with pytest.raises(GatewayError) as failure:
        await sessions.start(ALICE)
    assert failure.value.operation == "create_room"
    assert failure.value.room_name is not None
    with pytest.raises(GatewayError):
        await sessions.status(ALICE, started.room_name)
    with pytest.raises(GatewayError):
        await sessions.end(ALICE, started.room_name)
    with pytest.raises(GatewayError):
        await sessions.list(ALICE)
    memory_gateway.recover()
    assert memory_gateway.room_names == {started.room_name}
    assert (await sessions.status(ALICE, started.room_name)).room_name == started.room_name


async def test_livekit_failures_are_a_generic_500_and_logged_with_context(
    client: httpx.AsyncClient,
    memory_gateway: InMemoryRoomGateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    room = (await client.post(BASE, json={}, headers=auth_header("user-1"))).json()["room_name"]
    memory_gateway.fail("create_room", "get_room", "get_rooms", "list_participants", "delete_room")
    caplog.set_level(logging.INFO)
    answers = [
        await client.post(BASE, json={}, headers=auth_header("user-1")),
        await client.get(f"{BASE}/{room}", headers=auth_header("user-1")),
        await client.delete(f"{BASE}/{room}", headers=auth_header("user-1")),
        await client.get(BASE, headers=auth_header("user-1")),
    ]
    for response in answers:
        assert response.status_code == 500
        assert response.json() == {"detail": "The voice service is temporarily unavailable; please retry"}
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.operation for r in failures] == ["create_room", "get_room", "get_room", "get_rooms"]  # type: ignore[attr-defined]
    assert all(r.exc_info for r in failures)
    assert memory_gateway.room_names == {room}


async def test_an_unexpected_failure_is_a_generic_500_with_the_request_id_logged_once(
    client: httpx.AsyncClient,
    memory_gateway: InMemoryRoomGateway,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(name: str) -> None:
        raise RuntimeError("internal detail http://10.0.0.1 must not leak")

    monkeypatch.setattr(memory_gateway, "get_room", broken)
    response = await client.get(
        f"{BASE}/fitness-voice-user-1-0123456789abcdef",
        headers={**auth_header("user-1"), "X-Request-ID": "req-boom"},
    )
    assert (response.status_code, response.json()) == (500, {"detail": "Internal server error"})
    assert response.headers["X-Request-ID"] == "req-boom"
    assert "internal detail" not in response.text
    [logged] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged.getMessage() == "unexpected failure"
    assert logged.exc_info is not None


@pytest.mark.slow
async def test_a_stopped_server_fails_fast_and_the_same_client_recovers(
    livekit_server: LocalLiveKitServer,
    livekit_token_issuer: LiveKitTokenIssuer,
    member: User,
    recorder: SessionRecorder,
) -> None:
    gateway = LiveKitRoomGateway(
        livekit_server.url, livekit_server.api_key, livekit_server.api_secret, timeout_seconds=2
    )
    sessions = VoiceSessions(gateway, livekit_token_issuer, store=InProcessSessionStore(), recorder=recorder)
    try:
        started = await sessions.start(member)
        livekit_server.stop()
        try:
            for call in (
                lambda: sessions.start(member),
                lambda: sessions.status(member, started.room_name),
                lambda: sessions.end(member, started.room_name),
                lambda: sessions.list(member),
            ):
                # Refused, not held: each call fails within the gateway's deadline (2 s), never hangs.
                with pytest.raises(GatewayError):
                    await asyncio.wait_for(call(), 2 + DEADLINE_MARGIN)
        finally:
            livekit_server.start()
        again = await sessions.start(member)  # same gateway, same aiohttp session
        assert [s.room_name for s in await sessions.list(member)] == [again.room_name]
    finally:
        await gateway.aclose()
