"""LiveKitRoomGateway against the real server: every method, and error translation."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from livekit import api

from tests.support.constants import AGENT_NAME, TEST_API_SECRET
from tests.support.livekit import joined, raw_token, room_names, silent_server, unique_user_id
from tests.support.waiting import eventually
from voicecore.adapters.livekit import LiveKitRoomGateway
from voicecore.core.domain import utc_now
from voicecore.core.errors import GatewayError, WrongEventLoop
from voicecore.core.naming import new_room_name
from voicecore.core.ports import AgentDispatch, ParticipantKind, RoomSpec
from voicecore.testing.livekit_server import LocalLiveKitServer
from voicecore.testing.processes import free_port

# What a deadline may overrun by on a loaded 2-core machine.
DEADLINE_MARGIN = 10.0


def spec(name: str, metadata: str = '{"x":1}', **overrides: object) -> RoomSpec:
    fields: dict[str, object] = {"empty_timeout_seconds": 300, "max_participants": 2, **overrides}
    return RoomSpec(name=name, metadata=metadata, **fields)  # type: ignore[arg-type]


async def test_create_then_get_returns_the_room_with_its_settings(
    livekit_gateway: LiveKitRoomGateway, livekit_server: LocalLiveKitServer
) -> None:
    name = new_room_name(unique_user_id())
    created = await livekit_gateway.create_room(spec(name, empty_timeout_seconds=120, max_participants=2))
    assert (created.name, created.metadata) == (name, '{"x":1}')
    assert created.sid.startswith("RM_")
    assert await livekit_gateway.get_room(name) == created

    async with api.LiveKitAPI(livekit_server.url, livekit_server.api_key, livekit_server.api_secret) as lk:
        [info] = (await lk.room.list_rooms(api.ListRoomsRequest(names=[name]))).rooms
    assert (info.empty_timeout, info.max_participants) == (120, 2)


async def test_get_of_a_missing_room_is_none(livekit_gateway: LiveKitRoomGateway) -> None:
    assert await livekit_gateway.get_room(new_room_name(unique_user_id())) is None


async def test_rooms_are_fetched_by_exact_names_in_one_call(livekit_gateway: LiveKitRoomGateway) -> None:
    owner, other = unique_user_id(), unique_user_id()
    mine = [new_room_name(owner) for _ in range(3)]
    theirs = new_room_name(other)
    for name in [*mine, theirs]:
        await livekit_gateway.create_room(spec(name))
    missing = new_room_name(owner)
    found = await livekit_gateway.get_rooms([*mine, missing])
    assert {room.name for room in found} == set(mine)
    assert await livekit_gateway.get_rooms([]) == []
    assert {*mine, theirs} <= {room.name for room in await livekit_gateway.list_rooms()}


async def test_participants_are_listed_with_their_kind(
    livekit_gateway: LiveKitRoomGateway, livekit_server: LocalLiveKitServer
) -> None:
    name = new_room_name(unique_user_id())
    await livekit_gateway.create_room(spec(name))
    assert await livekit_gateway.list_participants(name) == []
    async with (
        joined(livekit_server.url, raw_token(livekit_server, "human", name)),
        joined(livekit_server.url, raw_token(livekit_server, "coach", name, kind="agent")),
    ):
        participants = await eventually(
            lambda: livekit_gateway.list_participants(name),
            lambda p: len(p) == 2,
            what="the human and the agent among the room's participants",
        )
    assert {(p.identity, p.kind) for p in participants} == {
        ("human", ParticipantKind.STANDARD),
        ("coach", ParticipantKind.AGENT),
    }


async def test_delete_tells_deleted_from_did_not_exist(livekit_gateway: LiveKitRoomGateway) -> None:
    name = new_room_name(unique_user_id())
    await livekit_gateway.create_room(spec(name))
    assert await livekit_gateway.delete_room(name) is True
    assert await livekit_gateway.get_room(name) is None
    assert await livekit_gateway.delete_room(name) is False


async def test_create_with_an_agent_dispatch_dispatches_that_agent(
    livekit_gateway: LiveKitRoomGateway, livekit_server: LocalLiveKitServer
) -> None:
    name = new_room_name(unique_user_id())
    dispatch = AgentDispatch(agent_name="fitness-coach", metadata='{"room_name":"r"}')
    await livekit_gateway.create_room(spec(name, agent_dispatch=dispatch))
    async with api.LiveKitAPI(livekit_server.url, livekit_server.api_key, livekit_server.api_secret) as lk:
        dispatches = await lk.agent_dispatch.list_dispatch(name)
    assert [(d.agent_name, d.metadata) for d in dispatches] == [("fitness-coach", '{"room_name":"r"}')]


async def test_server_errors_become_gateway_errors(livekit_gateway: LiveKitRoomGateway) -> None:
    too_long = "r" * 300  # LiveKit answers invalid_argument
    with pytest.raises(GatewayError) as failure:
        await livekit_gateway.create_room(spec(too_long))
    assert (failure.value.operation, failure.value.room_name) == ("create_room", too_long)
    assert isinstance(failure.value.__cause__, api.ServerError)
    assert "invalid_argument" in failure.value.detail


async def test_wrong_credentials_become_gateway_errors(livekit_server: LocalLiveKitServer) -> None:
    gateway = LiveKitRoomGateway(livekit_server.url, livekit_server.api_key, "not-the-secret-" + "x" * 32)
    try:
        with pytest.raises(GatewayError, match=r"HTTP 401") as failure:
            await gateway.get_room("fitness-voice-x-0123456789abcdef")
        assert failure.value.operation == "get_room"
        assert "not-the-secret" not in str(failure.value)
    finally:
        await gateway.aclose()


async def test_an_unreachable_server_is_a_gateway_error(livekit_server: LocalLiveKitServer) -> None:
    gateway = LiveKitRoomGateway(f"ws://127.0.0.1:{free_port()}", "key", TEST_API_SECRET, timeout_seconds=2)
    try:
        for call in (
            gateway.get_room("r"),
            gateway.get_rooms(["r"]),
            gateway.list_rooms(),
            gateway.list_participants("r"),
            gateway.delete_room("r"),
            gateway.create_room(spec("r")),
        ):
            with pytest.raises(GatewayError, match="could not reach LiveKit"):
                await call
    finally:
        await gateway.aclose()


async def test_a_server_that_never_answers_times_out_as_a_gateway_error(
    livekit_server: LocalLiveKitServer,
) -> None:
    async with silent_server() as port:
        gateway = LiveKitRoomGateway(f"ws://127.0.0.1:{port}", "key", TEST_API_SECRET, timeout_seconds=0.5)
        try:
            # Without the gateway's own deadline the call would wait for ever (livekit-api ignores
            # its client timeout: test_livekit_facts.py); the bound only tells the two apart.
            with pytest.raises(GatewayError, match="did not answer in time") as failure:
                await asyncio.wait_for(gateway.get_room("r"), 0.5 + DEADLINE_MARGIN)
            assert failure.value.operation == "get_room"
        finally:
            await gateway.aclose()


async def test_a_closed_gateway_refuses_calls_instead_of_opening_a_new_session(
    livekit_server: LocalLiveKitServer,
) -> None:
    gateway = LiveKitRoomGateway(livekit_server.url, livekit_server.api_key, livekit_server.api_secret)
    await gateway.open()
    assert await gateway.get_room(new_room_name(unique_user_id())) is None
    await gateway.aclose()
    with pytest.raises(GatewayError, match="closed"):
        await gateway.get_room("fitness-voice-x-0123456789abcdef")
    await gateway.open()  # an explicit open starts a new client
    try:
        await gateway.ping()
    finally:
        await gateway.aclose()


def test_a_client_used_from_a_second_event_loop_is_a_clear_error(livekit_server: LocalLiveKitServer) -> None:
    gateway = LiveKitRoomGateway(livekit_server.url, livekit_server.api_key, livekit_server.api_secret)
    first = asyncio.new_event_loop()
    try:
        first.run_until_complete(gateway.open())
        assert first.run_until_complete(gateway.get_room("voicecore-no-such-room")) is None
        with pytest.raises(WrongEventLoop, match="one event loop"):
            asyncio.run(gateway.get_room("voicecore-no-such-room"))  # asyncio.run: a loop of its own
    finally:
        first.run_until_complete(gateway.aclose())
        first.close()


async def test_a_dispatch_into_an_existing_room_is_listed(
    livekit_gateway: LiveKitRoomGateway, lk: api.LiveKitAPI
) -> None:
    name = new_room_name(unique_user_id())
    await livekit_gateway.create_room(
        RoomSpec(name, "{}", 300, 2, agent_dispatch=AgentDispatch(AGENT_NAME, '{"first": true}'))
    )
    before = utc_now()
    await livekit_gateway.dispatch_agent(name, AgentDispatch(AGENT_NAME, '{"again": true}'))

    # The server lists dispatches in no fixed order.
    first, again = sorted(await livekit_gateway.list_agent_dispatches(name), key=lambda d: d.created_at)
    assert [(d.agent_name, d.metadata) for d in (first, again)] == [
        (AGENT_NAME, '{"first": true}'),
        (AGENT_NAME, '{"again": true}'),
    ]
    # No worker is registered: nothing is assigned, so nothing has finished.
    assert not first.finished
    assert not again.finished
    assert abs(again.created_at - before) < timedelta(seconds=5)  # the server's clock, in UTC
    # livekit-api's own view agrees.
    assert sorted(d.metadata for d in await lk.agent_dispatch.list_dispatch(name)) == [
        '{"again": true}',
        '{"first": true}',
    ]


async def test_a_room_without_a_named_agent_has_only_the_automatic_dispatch(
    livekit_gateway: LiveKitRoomGateway,
) -> None:
    name = new_room_name(unique_user_id())
    await livekit_gateway.create_room(RoomSpec(name, "{}", 300, 2))
    assert [d.agent_name for d in await livekit_gateway.list_agent_dispatches(name)] == [""]


async def test_a_dispatch_into_a_missing_room_fails_and_creates_nothing(
    livekit_gateway: LiveKitRoomGateway, lk: api.LiveKitAPI
) -> None:
    name = new_room_name(unique_user_id())
    with pytest.raises(GatewayError) as failure:
        await livekit_gateway.dispatch_agent(name, AgentDispatch(AGENT_NAME, "{}"))
    assert failure.value.operation == "dispatch_agent"
    assert name not in await room_names(lk)
