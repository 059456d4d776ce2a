"""What the product relies on about agent dispatch, proven with the real worker and server.

The worker is devtools/agent_worker.py, registered under an agent name, as voicecore's coach
workers are. docs/livekit.md ("Agents (proven)") names each test here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from livekit import api, rtc

from tests.support.agent_worker import AgentWorkerProcess, agents_in, running_agent_worker
from tests.support.livekit import joined, raw_token, unique_user_id
from tests.support.waiting import eventually
from voicecore.core.naming import new_room_name
from voicecore.testing.livekit_server import LocalLiveKitServer

# A SIGKILLed agent is only dropped once the server gives up waiting for it to resume.
GHOST_AGENT_WITHIN_S = 45.0


@pytest.fixture
async def made_rooms(lk: api.LiveKitAPI) -> AsyncIterator[list[str]]:
    """Names of this test's rooms, deleted afterwards so the shared worker's agents leave them."""
    names: list[str] = []
    yield names
    for name in names:
        with contextlib.suppress(api.ServerError):
            await lk.room.delete_room(api.DeleteRoomRequest(room=name))


def fresh_room(made_rooms: list[str]) -> str:
    name = new_room_name(unique_user_id())
    made_rooms.append(name)
    return name


async def agents(lk: api.LiveKitAPI, room: str) -> list[api.ParticipantInfo]:
    return agents_in(await lk.room.list_participants(api.ListParticipantsRequest(room=room)))


async def agents_when(
    lk: api.LiveKitAPI, room: str, count: int, *, within: float = 10.0
) -> list[api.ParticipantInfo]:
    """The room's agents once there are ``count`` of them."""
    return await eventually(
        lambda: agents(lk, room),
        lambda found: len(found) == count,
        what=f"{count} agent(s) in {room}",
        within=within,
    )


async def publishing_agent(lk: api.LiveKitAPI, room: str) -> api.ParticipantInfo:
    """The room's one agent once it has published its tone, so fully connected."""
    [found] = await eventually(
        lambda: agents(lk, room),
        lambda now: len(now) == 1 and bool(now[0].tracks),
        what=f"the agent in {room} to publish its tone",
    )
    return found


async def job_assigned(lk: api.LiveKitAPI, room: str) -> list[api.AgentDispatch]:
    """The room's dispatches once the first has its job (recorded after the agent is in, at times)."""
    return await eventually(
        lambda: lk.agent_dispatch.list_dispatch(room),
        lambda found: bool(found and found[0].state.jobs),
        what=f"the dispatch of {room} to record its job",
    )


async def dispatches_served(lk: api.LiveKitAPI, made_rooms: list[str], worker: AgentWorkerProcess) -> None:
    """Return once the worker has served a dispatch made now: a barrier for "no agent comes".

    A claim that something does not happen needs a moment after which it would have. A fixed
    wait only guesses that moment; this waits for evidence of it. The server hands its worker
    the jobs over one connection, in order, and the worker takes them in turn, so once an
    agent dispatched now is in its room, every dispatch the server made before has been served.
    """
    control = await create_dispatched_room(lk, made_rooms, worker)
    await agents_when(lk, control, 1)


async def create_dispatched_room(
    lk: api.LiveKitAPI, made_rooms: list[str], worker: AgentWorkerProcess, metadata: str = ""
) -> str:
    name = fresh_room(made_rooms)
    await lk.room.create_room(
        api.CreateRoomRequest(
            name=name,
            agents=[api.RoomAgentDispatch(agent_name=worker.agent_name, metadata=metadata)],
            # Long enough to outlive a killed agent's ghost: the room must not close under the test.
            empty_timeout=120,
            departure_timeout=120,
        )
    )
    return name


async def test_create_room_with_an_agent_dispatch_brings_the_agent_in(
    lk: api.LiveKitAPI, made_rooms: list[str], agent_worker: AgentWorkerProcess
) -> None:
    room = await create_dispatched_room(lk, made_rooms, agent_worker)
    [agent] = await agents_when(lk, room, 1)
    assert agent.kind == api.ParticipantInfo.Kind.AGENT
    assert agent.identity.startswith("agent-AJ_")
    # The dev worker publishes its tone as a microphone track once it has joined.
    published = await publishing_agent(lk, room)
    assert [(t.type, t.source, t.name) for t in published.tracks] == [
        (api.TrackType.AUDIO, api.TrackSource.MICROPHONE, "tone")
    ]


async def test_list_dispatch_shows_the_dispatch_and_its_job_once_assigned(
    lk: api.LiveKitAPI, made_rooms: list[str], agent_worker: AgentWorkerProcess
) -> None:
    room = await create_dispatched_room(lk, made_rooms, agent_worker, metadata='{"agent_type": "coach"}')
    [agent] = await agents_when(lk, room, 1)
    # The job is recorded in the dispatch state asynchronously, not always by the time the agent is in.
    [dispatch] = await job_assigned(lk, room)  # no extra automatic dispatch when CreateRoom names the agent
    assert (dispatch.agent_name, dispatch.room, dispatch.metadata) == (
        agent_worker.agent_name,
        room,
        '{"agent_type": "coach"}',
    )
    assert dispatch.id.startswith("AD_")
    [job] = dispatch.state.jobs
    assert job.dispatch_id == dispatch.id
    assert (job.agent_name, job.metadata, job.room.name) == (dispatch.agent_name, dispatch.metadata, room)
    assert job.state.status == api.JobStatus.JS_RUNNING
    assert job.state.participant_identity == agent.identity == f"agent-{job.id}"
    assert job.state.worker_id.startswith("AW_")


async def test_a_killed_workers_agent_leaves_and_only_a_new_dispatch_brings_one_back(
    lk: api.LiveKitAPI,
    made_rooms: list[str],
    livekit_server: LocalLiveKitServer,
    agent_worker: AgentWorkerProcess,
) -> None:
    room = await create_dispatched_room(lk, made_rooms, agent_worker)
    async with joined(livekit_server.url, raw_token(livekit_server, unique_user_id(), room)):
        first = await publishing_agent(lk, room)
        await job_assigned(lk, room)
        agent_worker.kill()
        assert await agents_when(lk, room, 0, within=GHOST_AGENT_WITHIN_S) == []

        # The dispatch state still says the dead agent's job is running: it is no presence signal.
        [dispatch] = await lk.agent_dispatch.list_dispatch(room)
        assert [(j.state.status, j.state.participant_identity) for j in dispatch.state.jobs] == [
            (api.JobStatus.JS_RUNNING, first.identity)
        ]

        agent_worker.start()  # registered again: the old job is not handed to it
        await dispatches_served(lk, made_rooms, agent_worker)
        assert await agents(lk, room) == []

        await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=agent_worker.agent_name, room=room)
        )
        [second] = await agents_when(lk, room, 1)
        assert second.identity != first.identity
        assert len(await lk.agent_dispatch.list_dispatch(room)) == 2


async def test_a_user_rejoin_does_not_dispatch_again(
    lk: api.LiveKitAPI,
    made_rooms: list[str],
    livekit_server: LocalLiveKitServer,
    agent_worker: AgentWorkerProcess,
) -> None:
    room = await create_dispatched_room(lk, made_rooms, agent_worker)
    user = unique_user_id()
    async with joined(livekit_server.url, raw_token(livekit_server, user, room)):
        [agent] = await agents_when(lk, room, 1)
    async with joined(livekit_server.url, raw_token(livekit_server, user, room)):
        await dispatches_served(lk, made_rooms, agent_worker)
        assert [a.identity for a in await agents(lk, room)] == [agent.identity]
        # Once the agent is gone, a rejoin does not bring one back either.
        await lk.room.remove_participant(api.RoomParticipantIdentity(room=room, identity=agent.identity))
        assert await agents_when(lk, room, 0) == []
    async with joined(livekit_server.url, raw_token(livekit_server, user, room)):
        await dispatches_served(lk, made_rooms, agent_worker)
        assert await agents(lk, room) == []
    assert len(await lk.agent_dispatch.list_dispatch(room)) == 1


async def test_after_delete_room_the_old_token_cannot_join_and_no_room_comes_back(
    lk: api.LiveKitAPI,
    made_rooms: list[str],
    livekit_server: LocalLiveKitServer,
    agent_worker: AgentWorkerProcess,
) -> None:
    assert not livekit_server.auto_create_rooms
    room = await create_dispatched_room(lk, made_rooms, agent_worker)
    # Deleted while its agent may still be joining: the case that used to re-create the room.
    racing = await create_dispatched_room(lk, made_rooms, agent_worker)
    token = raw_token(livekit_server, unique_user_id(), room)
    async with joined(livekit_server.url, token) as user:
        await agents_when(lk, room, 1)
        left = asyncio.Event()
        user.on("disconnected", lambda _reason: left.set())
        await lk.room.delete_room(api.DeleteRoomRequest(room=room))
        await lk.room.delete_room(api.DeleteRoomRequest(room=racing))
        await asyncio.wait_for(left.wait(), timeout=10)

    late = rtc.Room()
    with pytest.raises(rtc.ConnectError, match="requested room does not exist"):
        await late.connect(livekit_server.url, token, rtc.RoomOptions(connect_timeout=10))
    # The racing room's job was handed to the worker before this barrier's: its agent has had
    # its try at the deleted room, which would have brought the room back.
    await dispatches_served(lk, made_rooms, agent_worker)
    assert list((await lk.room.list_rooms(api.ListRoomsRequest(names=[room, racing]))).rooms) == []
    with pytest.raises(api.ServerError) as refused:
        await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=agent_worker.agent_name, room=room)
        )
    assert (refused.value.code, refused.value.status) == ("unavailable", 503)
    assert list((await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms) == []


async def test_a_worker_with_an_agent_name_gets_only_explicit_dispatches(
    lk: api.LiveKitAPI,
    made_rooms: list[str],
    livekit_server: LocalLiveKitServer,
    agent_worker: AgentWorkerProcess,
) -> None:
    room = fresh_room(made_rooms)
    await lk.room.create_room(api.CreateRoomRequest(name=room))
    async with joined(livekit_server.url, raw_token(livekit_server, unique_user_id(), room)):
        await dispatches_served(lk, made_rooms, agent_worker)
        assert await agents(lk, room) == []
    # The server's automatic dispatch exists, with no agent name, and found no worker to take it.
    [automatic] = await lk.agent_dispatch.list_dispatch(room)
    assert (automatic.agent_name, list(automatic.state.jobs)) == ("", [])


def dispatching_token(server: LocalLiveKitServer, identity: str, room: str, agent_name: str) -> str:
    """The agent starter's way: the join token asks for the agent, and the join makes the room."""
    return (
        api.AccessToken(server.api_key, server.api_secret)
        .with_identity(identity)
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .with_room_config(api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name=agent_name)]))
        .to_jwt()
    )


async def test_token_dispatch_needs_a_server_that_auto_creates_rooms(
    lk: api.LiveKitAPI,
    made_rooms: list[str],
    livekit_server: LocalLiveKitServer,
    agent_worker: AgentWorkerProcess,
) -> None:
    room = fresh_room(made_rooms)
    refused = rtc.Room()
    with pytest.raises(rtc.ConnectError, match="requested room does not exist"):
        await refused.connect(
            livekit_server.url,
            dispatching_token(livekit_server, unique_user_id(), room, agent_worker.agent_name),
            rtc.RoomOptions(connect_timeout=10),
        )

    starter = LocalLiveKitServer(livekit_server.binary, auto_create_rooms=True)
    try:
        starter.start()
        token = dispatching_token(starter, unique_user_id(), room, agent_worker.agent_name)
        with running_agent_worker(starter, agent_worker.agent_name):
            async with (
                api.LiveKitAPI(starter.url, starter.api_key, starter.api_secret) as starter_lk,
                joined(starter.url, token),
            ):
                [agent] = await agents_when(starter_lk, room, 1)
                assert agent.kind == api.ParticipantInfo.Kind.AGENT
    finally:
        starter.cleanup()
