"""Rejoin, the token endpoint and "ended means ended" through HTTP on the real server, with participants."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from livekit import api, rtc

from tests.support.apps import service_container, serving, session_path
from tests.support.constants import BASE
from tests.support.livekit import eventually, joined, unique_user_id
from tests.support.tokens import auth_header
from voicecore.testing.livekit_server import LocalLiveKitServer

DETAILS = f"{BASE}/connection-details"
AGENT = "fitness-coach"


@pytest.fixture
async def agent_service(livekit_server: LocalLiveKitServer) -> AsyncIterator[httpx.AsyncClient]:
    """The service on the real server, with an agent configured by name (no worker runs)."""
    container = service_container(
        livekit_server.url,
        livekit_server.api_key,
        livekit_server.api_secret,
        LIVEKIT_AGENT_NAME=AGENT,
        SESSION_DEPARTURE_TIMEOUT_SECONDS="45",
    )
    async with serving(container) as client:
        yield client


async def rooms_of(lk: api.LiveKitAPI, user: str) -> set[str]:
    rooms = (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
    return {room.name for room in rooms if room.name.startswith(f"fitness-voice-{user}-")}


async def test_a_client_sdk_connects_leaves_and_comes_back_to_the_same_room(
    livekit_client: httpx.AsyncClient, livekit_server: LocalLiveKitServer
) -> None:
    user = unique_user_id("member")
    headers = auth_header(user, "member@example.com")
    response = await livekit_client.post(f"{DETAILS}?agent_type=workout", json={}, headers=headers)
    assert response.status_code == 201
    details = response.json()
    assert details["server_url"] == livekit_server.url

    async def status() -> dict[str, Any]:
        body: dict[str, Any] = (
            await livekit_client.get(session_path(details["room_name"]), headers=headers)
        ).json()
        return body

    async with joined(details["server_url"], details["participant_token"]) as room:
        assert (room.name, room.local_participant.identity) == (details["room_name"], user)
        assert (await eventually(status, lambda s: s["participant_count"] == 1))["participant_count"] == 1
    # The app was killed; it restarts and finds its session again, two ways.
    rejoined = await livekit_client.post(f"{session_path(details['room_name'])}/token", headers=headers)
    assert rejoined.status_code == 200
    async with joined(rejoined.json()["livekit_url"], rejoined.json()["token"]) as room:
        assert room.name == details["room_name"]
        assert (await eventually(status, lambda s: s["participant_count"] == 1))["participant_count"] == 1
    again = await livekit_client.post(
        DETAILS, json={"room_name": details["room_name"], "participant_name": "Alex"}, headers=headers
    )
    assert again.status_code == 201
    async with joined(again.json()["server_url"], again.json()["participant_token"]) as room:
        assert (room.name, room.local_participant.name) == (details["room_name"], "Alex")


async def test_forbidden_fields_create_nothing_on_the_real_server(
    agent_service: httpx.AsyncClient, lk: api.LiveKitAPI
) -> None:
    user = unique_user_id("member")
    headers = auth_header(user)
    room = (await agent_service.post(DETAILS, json={}, headers=headers)).json()["room_name"]
    dispatches_before = len(await lk.agent_dispatch.list_dispatch(room))
    for body in [
        {"participant_identity": "someone-else"},
        {"participant_metadata": "{}"},
        {"participant_attributes": {"role": "coach"}},
        {"room_config": {"max_participants": 9}},
        {"room_config": {"agents": [{"agent_name": "another-agent"}]}},
        {"room_config": {"agents": [{"agent_name": AGENT, "metadata": "mine"}]}},
    ]:
        for rejoining in ({}, {"room_name": room}):
            response = await agent_service.post(DETAILS, json={**body, **rejoining}, headers=headers)
            assert response.status_code == 422, (body, rejoining)
            assert response.json()["detail"].startswith("Field not allowed: ")
    assert await rooms_of(lk, user) == {room}
    assert len(await lk.agent_dispatch.list_dispatch(room)) == dispatches_before


async def test_someone_elses_room_and_missing_rooms_on_the_real_server(
    livekit_client: httpx.AsyncClient, lk: api.LiveKitAPI
) -> None:
    owner, intruder = unique_user_id("owner"), unique_user_id("intruder")
    room = (await livekit_client.post(DETAILS, json={}, headers=auth_header(owner))).json()["room_name"]
    for request in (
        livekit_client.post(f"{session_path(room)}/token", headers=auth_header(intruder)),
        livekit_client.post(DETAILS, json={"room_name": room}, headers=auth_header(intruder)),
    ):
        assert (await request).status_code == 403
    missing = f"fitness-voice-{intruder}-0123456789abcdef"
    for request in (
        livekit_client.post(f"{session_path(missing)}/token", headers=auth_header(intruder)),
        livekit_client.post(DETAILS, json={"room_name": missing}, headers=auth_header(intruder)),
        livekit_client.post(f"{session_path('x' * 300)}/token", headers=auth_header(intruder)),
    ):
        assert (await request).status_code == 404
    assert await rooms_of(lk, intruder) == set()
    assert await rooms_of(lk, owner) == {room}


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
