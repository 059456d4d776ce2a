"""A client that lost its connection (a crash, an OS kill, a reload) comes back to the same room.

On the real server, with the client SDK's own participant: through ``connection-details``
(TokenSource.endpoint) and ``POST /{room_name}/token``, and through the use case.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.apps import session_path, sessions_with
from tests.support.constants import DETAILS
from tests.support.livekit import joined, unique_user_id
from tests.support.tokens import auth_header
from tests.support.waiting import eventually
from voicecore.adapters.livekit import LiveKitRoomGateway, LiveKitTokenIssuer
from voicecore.core.domain import AgentType, User
from voicecore.core.errors import NotSessionOwner, SessionNotFound
from voicecore.core.naming import new_room_name
from voicecore.core.recorder import SessionRecorder
from voicecore.testing.livekit_server import LocalLiveKitServer


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
        await eventually(
            status, lambda s: s["participant_count"] == 1, what="status to count the SDK's participant"
        )
    # The app was killed; it restarts and finds its session again, two ways.
    rejoined = await livekit_client.post(f"{session_path(details['room_name'])}/token", headers=headers)
    assert rejoined.status_code == 200
    async with joined(rejoined.json()["livekit_url"], rejoined.json()["token"]) as room:
        assert room.name == details["room_name"]
        await eventually(
            status, lambda s: s["participant_count"] == 1, what="status to count the rejoined participant"
        )
    again = await livekit_client.post(
        DETAILS, json={"room_name": details["room_name"], "participant_name": "Alex"}, headers=headers
    )
    assert again.status_code == 201
    async with joined(again.json()["server_url"], again.json()["participant_token"]) as room:
        assert (room.name, room.local_participant.name) == (details["room_name"], "Alex")


async def test_the_owner_rejoins_with_a_fresh_token_and_others_cannot(
    livekit_gateway: LiveKitRoomGateway,
    livekit_token_issuer: LiveKitTokenIssuer,
    livekit_server: LocalLiveKitServer,
    member: User,
    recorder: SessionRecorder,
) -> None:
    sessions = sessions_with(livekit_gateway, livekit_token_issuer, recorder=recorder)
    started = await sessions.start(member, AgentType.TRACKER)
    async with joined(livekit_server.url, started.token):
        pass  # the app was killed
    again = await sessions.rejoin(member, started.room_name)
    assert (again.room_name, again.agent_type, again.livekit_url) == (
        started.room_name,
        AgentType.TRACKER,
        livekit_server.url,
    )
    async with joined(again.livekit_url, again.token) as room:
        assert (room.name, room.local_participant.identity) == (started.room_name, member.id)
        status = await eventually(
            lambda: sessions.status(member, started.room_name),
            lambda s: s.active,
            what="status to see the owner back in the room",
        )
        assert status.participant_count == 1
    with pytest.raises(NotSessionOwner):
        await sessions.rejoin(User(unique_user_id("intruder")), started.room_name)
    with pytest.raises(SessionNotFound):
        await sessions.rejoin(member, new_room_name(member.id))
