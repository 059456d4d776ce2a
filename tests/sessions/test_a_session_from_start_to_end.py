"""The full path: HTTP -> use cases -> the real LiveKit server -> real participants, start to end."""

from __future__ import annotations

import asyncio

import httpx

from tests.support.constants import BASE
from tests.support.livekit import joined, raw_token, unique_user_id
from tests.support.tokens import auth_header
from tests.support.waiting import eventually
from voicecore.testing.livekit_server import LocalLiveKitServer


async def test_a_session_from_creation_to_end_with_real_participants(
    livekit_client: httpx.AsyncClient, livekit_server: LocalLiveKitServer
) -> None:
    user = unique_user_id("member")
    headers = auth_header(user, "member@example.com")
    created = await livekit_client.post(BASE, json={"agent_type": "workout"}, headers=headers)
    assert created.status_code == 201
    session = created.json()
    assert session["livekit_url"] == livekit_server.url
    room_name = session["room_name"]

    async def status() -> dict[str, object]:
        response = await livekit_client.get(f"{BASE}/{room_name}", headers=headers)
        assert response.status_code == 200
        body: dict[str, object] = response.json()
        return body

    assert (await status())["participant_count"] == 0
    async with joined(session["livekit_url"], session["token"]) as room:
        assert room.local_participant.identity == user
        one = await eventually(status, lambda s: s["participant_count"] == 1, what="status to count the user")
        assert (one["active"], one["agent_connected"]) == (True, False)

        agent_token = raw_token(livekit_server, "coach", room_name, kind="agent")
        async with joined(livekit_server.url, agent_token):
            two = await eventually(
                status, lambda s: s["participant_count"] == 2, what="status to count the user and the agent"
            )
            assert two["agent_connected"] is True
            listed = (await livekit_client.get(BASE, headers=headers)).json()["sessions"]
            assert [(s["room_name"], s["participant_count"], s["agent_type"]) for s in listed] == [
                (room_name, 2, "workout")
            ]

            disconnected = asyncio.Event()
            room.on("disconnected", lambda *_: disconnected.set())
            ended = await livekit_client.delete(f"{BASE}/{room_name}", headers=headers)
            assert ended.json() == {"status": "ended", "room_name": room_name}
            await asyncio.wait_for(disconnected.wait(), 10)
    gone = await livekit_client.get(f"{BASE}/{room_name}", headers=headers)
    assert gone.status_code == 404
    assert (await livekit_client.get(BASE, headers=headers)).json() == {"sessions": []}
