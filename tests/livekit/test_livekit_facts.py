"""Each LiveKit behaviour voicecore relies on, proven against the pinned server.

The in-memory gateway models these; if an upgrade changes one, this file says which.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from livekit import api, rtc

from tests.support.livekit import joined, raw_token, room_names, silent_server, unique_user_id
from tests.support.waiting import eventually
from voicecore.core.naming import MAX_ROOM_NAME_LENGTH, new_room_name
from voicecore.testing.livekit_server import LocalLiveKitServer


async def test_create_with_an_existing_name_returns_the_existing_room_unchanged(lk: api.LiveKitAPI) -> None:
    name = new_room_name(unique_user_id())
    first = await lk.room.create_room(api.CreateRoomRequest(name=name, metadata="mine", max_participants=2))
    again = await lk.room.create_room(api.CreateRoomRequest(name=name, metadata="theirs", max_participants=9))
    assert again.sid == first.sid
    assert (again.metadata, again.max_participants) == ("mine", 2)


async def test_delete_of_a_missing_room_is_twirp_not_found(lk: api.LiveKitAPI) -> None:
    with pytest.raises(api.ServerError) as failure:
        await lk.room.delete_room(api.DeleteRoomRequest(room=new_room_name(unique_user_id())))
    assert (failure.value.code, failure.value.status) == ("not_found", 404)


async def test_list_rooms_by_name_is_exact_and_leaves_unknown_names_out(lk: api.LiveKitAPI) -> None:
    user = unique_user_id()
    name = new_room_name(user)
    await lk.room.create_room(api.CreateRoomRequest(name=name))
    response = await lk.room.list_rooms(
        api.ListRoomsRequest(names=[name, name[:-1], f"fitness-voice-{user}"])
    )
    assert [room.name for room in response.rooms] == [name]


async def test_list_participants_of_a_missing_room_is_empty(lk: api.LiveKitAPI) -> None:
    response = await lk.room.list_participants(
        api.ListParticipantsRequest(room=new_room_name(unique_user_id()))
    )
    assert list(response.participants) == []


async def test_room_names_up_to_256_characters_are_accepted_and_longer_refused(lk: api.LiveKitAPI) -> None:
    longest = new_room_name("u" * 225)
    assert len(longest) == MAX_ROOM_NAME_LENGTH
    assert (await lk.room.create_room(api.CreateRoomRequest(name=longest))).name == longest
    with pytest.raises(api.ServerError) as failure:
        await lk.room.create_room(api.CreateRoomRequest(name=longest + "0"))
    assert failure.value.code == "invalid_argument"


async def test_agents_have_agent_kind_and_are_not_in_num_participants(
    lk: api.LiveKitAPI, livekit_server: LocalLiveKitServer
) -> None:
    name = new_room_name(unique_user_id())
    await lk.room.create_room(api.CreateRoomRequest(name=name, max_participants=2))
    async with (
        joined(livekit_server.url, raw_token(livekit_server, "human", name)),
        joined(livekit_server.url, raw_token(livekit_server, "coach", name, kind="agent")),
    ):
        listed = await eventually(
            lambda: lk.room.list_participants(api.ListParticipantsRequest(room=name)),
            lambda r: len(r.participants) == 2,
            what="the human and the agent in ListParticipants",
        )
        kinds = {p.identity: p.kind for p in listed.participants}
        assert kinds == {"human": api.ParticipantInfo.Kind.STANDARD, "coach": api.ParticipantInfo.Kind.AGENT}
        rooms = await eventually(
            lambda: lk.room.list_rooms(api.ListRoomsRequest(names=[name])),
            lambda r: r.rooms[0].num_participants > 0,
            what="ListRooms to count the human",
        )
        assert rooms.rooms[0].num_participants == 1  # the agent is not counted


async def test_max_participants_refuses_a_third_person_but_not_an_agent(
    lk: api.LiveKitAPI, livekit_server: LocalLiveKitServer
) -> None:
    name = new_room_name(unique_user_id())
    await lk.room.create_room(api.CreateRoomRequest(name=name, max_participants=2))
    async with (
        joined(livekit_server.url, raw_token(livekit_server, "a", name)),
        joined(livekit_server.url, raw_token(livekit_server, "b", name)),
    ):
        with pytest.raises(rtc.ConnectError):
            async with joined(livekit_server.url, raw_token(livekit_server, "c", name)):
                pass
        async with joined(livekit_server.url, raw_token(livekit_server, "coach", name, kind="agent")):
            listed = await eventually(
                lambda: lk.room.list_participants(api.ListParticipantsRequest(room=name)),
                lambda r: len(r.participants) == 3,
                what="two people and the agent in ListParticipants",
            )
            assert {p.identity for p in listed.participants} == {"a", "b", "coach"}
    assert "max participants" in livekit_server.log_tail(400)


async def test_joining_with_an_identity_already_present_replaces_the_earlier_connection(
    lk: api.LiveKitAPI, livekit_server: LocalLiveKitServer
) -> None:
    name = new_room_name(unique_user_id())
    await lk.room.create_room(api.CreateRoomRequest(name=name, max_participants=2))
    async with joined(livekit_server.url, raw_token(livekit_server, "same", name)) as first:
        kicked = asyncio.Event()
        first.on("disconnected", lambda *_: kicked.set())
        async with joined(livekit_server.url, raw_token(livekit_server, "same", name)):
            await asyncio.wait_for(kicked.wait(), 10)
            listed = await lk.room.list_participants(api.ListParticipantsRequest(room=name))
            assert [p.identity for p in listed.participants] == ["same"]


async def test_livekit_api_ignores_its_own_client_timeout() -> None:
    """Why LiveKitRoomGateway enforces its own deadline (see adapters/livekit.py)."""

    async with silent_server() as port:
        client = api.LiveKitAPI(
            f"http://127.0.0.1:{port}", "key", "x" * 40, timeout=aiohttp.ClientTimeout(total=0.2)
        )
        call = asyncio.ensure_future(client.room.list_rooms(api.ListRoomsRequest()))
        try:
            # The behaviour is a timeout that does not fire: real time must pass, many times 0.2 s.
            done, _ = await asyncio.wait([call], timeout=1.5)
            assert not done, "livekit-api now honours ClientTimeout: the adapter's own deadline may go"
        finally:
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)
            await client.aclose()


async def test_a_token_cannot_create_a_room(livekit_server: LocalLiveKitServer, lk: api.LiveKitAPI) -> None:
    name = new_room_name(unique_user_id())
    with pytest.raises(rtc.ConnectError, match="does not exist"):
        async with joined(livekit_server.url, raw_token(livekit_server, "someone", name)):
            pass
    assert name not in await room_names(lk)
