"""The bounds on the real LiveKit server: rooms deleted on time, participants cut, agents told, restarts.

Each service here is a real process (``python -m voicecore_http``) with a short cap
or a one-minute allowance. "On time" is the contract: a room is gone at most
5 seconds after its deadline (docs/http-api.md, "Bounds in time").
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from livekit import api, rtc

from tests.support.agent_worker import DEV_AGENT_NAME, AgentWorkerProcess
from tests.support.apps import GUARDRAILS_OFF
from tests.support.constants import BASE
from tests.support.livekit import unique_user_id
from tests.support.service_process import running_service
from tests.support.tokens import auth_header
from tests.support.waiting import eventually
from voicecore.testing.livekit_server import LocalLiveKitServer

ON_TIME = timedelta(seconds=5)  # the contract: gone at most this long after the deadline


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def gone_at(lk: api.LiveKitAPI, room: str, deadline: datetime) -> datetime:
    """When LiveKit no longer has ``room``, polled from its deadline on; fails if it outlives it by far."""

    async def listed() -> list[api.Room]:
        return list((await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms)

    within = (deadline - datetime.now(UTC)).total_seconds() + 3 * ON_TIME.total_seconds()
    await eventually(listed, lambda rooms: not rooms, what=f"{room} deleted by the server", within=within)
    return datetime.now(UTC)


async def ended_record(
    http: httpx.AsyncClient, base_url: str, room: str, headers: dict[str, str]
) -> dict[str, Any]:
    """The session's history record once its end is written (a moment after the room is deleted)."""

    async def record() -> dict[str, Any]:
        answer: dict[str, Any] = (await http.get(f"{base_url}{BASE}/history/{room}", headers=headers)).json()
        return answer

    return await eventually(record, lambda r: r.get("end_reason") is not None, what="the end recorded")


async def test_a_short_cap_deletes_the_room_cuts_its_participant_and_records_max_duration(
    livekit_server: LocalLiveKitServer, lk: api.LiveKitAPI, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    headers = auth_header(unique_user_id("capped"))
    with running_service(
        tmp_path, livekit_server, SESSION_MAX_DURATION_SECONDS="4", **GUARDRAILS_OFF
    ) as service:
        created = (await http.post(service.base_url + BASE, json={}, headers=headers)).json()
        room, deadline = created["room_name"], datetime.fromisoformat(created["ends_at"])
        reasons: list[str] = []
        participant = rtc.Room()
        participant.on("disconnected", lambda reason: reasons.append(rtc.DisconnectReason.Name(reason)))
        options = rtc.RoomOptions(auto_subscribe=False, connect_timeout=10)
        await participant.connect(livekit_server.url, created["token"], options)
        try:
            ended = await gone_at(lk, room, deadline)
            assert ended - deadline <= ON_TIME

            async def told() -> list[str]:
                return reasons

            await eventually(told, bool, what="the participant told it was disconnected")
            assert reasons == ["ROOM_DELETED"]
        finally:
            await participant.disconnect()
        record = await ended_record(http, service.base_url, room, headers)
        assert record["end_reason"] == "max_duration"
        assert deadline <= datetime.fromisoformat(record["ended_at"]) <= deadline + ON_TIME


async def test_a_minute_shared_by_two_live_sessions_ends_both_at_about_half_a_minute(
    livekit_server: LocalLiveKitServer, lk: api.LiveKitAPI, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    headers = auth_header(unique_user_id("minute"))
    with running_service(tmp_path, livekit_server, USAGE_LIMIT_MINUTES="1", **GUARDRAILS_OFF) as service:
        started = datetime.now(UTC)
        first = (await http.post(service.base_url + BASE, json={}, headers=headers)).json()
        second = (await http.post(service.base_url + BASE, json={}, headers=headers)).json()
        # Two running from the start: the minute lasts half a minute, for both (the first's moved).
        deadline = datetime.fromisoformat(second["ends_at"])
        assert timedelta(seconds=29) <= deadline - started <= timedelta(seconds=31)
        status = (await http.get(f"{service.base_url}{BASE}/{first['room_name']}", headers=headers)).json()
        assert status["ends_at"] == second["ends_at"]
        for room in (first["room_name"], second["room_name"]):
            ended = await gone_at(lk, room, deadline)
            assert deadline - timedelta(seconds=1) <= ended <= deadline + ON_TIME
            record = await ended_record(http, service.base_url, room, headers)
            assert record["end_reason"] == "usage_exhausted"
        refused = await http.post(service.base_url + BASE, json={}, headers=headers)
        assert refused.status_code == 402


async def test_a_deadline_that_passed_while_every_replica_was_down_is_enforced_when_one_comes_back(
    livekit_server: LocalLiveKitServer, lk: api.LiveKitAPI, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    headers = auth_header(unique_user_id("restarted"))
    with running_service(
        tmp_path, livekit_server, SESSION_MAX_DURATION_SECONDS="5", **GUARDRAILS_OFF
    ) as service:
        created = (await http.post(service.base_url + BASE, json={}, headers=headers)).json()
        room, deadline = created["room_name"], datetime.fromisoformat(created["ends_at"])
        service.kill()  # the only replica: nobody watches the deadline now
        # Real time must pass the deadline: that is what is tested.
        await asyncio.sleep((deadline - datetime.now(UTC)).total_seconds() + 1)
        assert (await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms  # nobody ended it
        service.start()  # in-process store: empty again; the repair and the first pass run before serving
        back = datetime.now(UTC)
        ended = await gone_at(lk, room, back)
        assert ended - back <= ON_TIME
        record = await ended_record(http, service.base_url, room, headers)
        assert record["end_reason"] == "max_duration"


async def test_the_agent_is_told_when_the_session_ends_at_its_join_and_when_it_moves(
    livekit_server: LocalLiveKitServer,
    agent_worker: AgentWorkerProcess,
    http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    headers = auth_header(unique_user_id("told"))
    variables = {"LIVEKIT_AGENT_NAME": DEV_AGENT_NAME, "USAGE_LIMIT_MINUTES": "10"}
    with running_service(tmp_path, livekit_server, **variables, **GUARDRAILS_OFF) as service:
        created = (await http.post(service.base_url + BASE, json={}, headers=headers)).json()

        async def worker_log() -> str:
            return agent_worker.log_since_start()

        at_join = f"session {created['room_name']} ends at {created['ends_at']}"
        await eventually(worker_log, lambda log: at_join in log, what="the agent reading ends_at at its join")
        # A second session of the user: the ten minutes now go twice as fast, for both, and the
        # first room's agent hears of its sooner end from LiveKit (UpdateRoomMetadata).
        second = (await http.post(service.base_url + BASE, json={}, headers=headers)).json()
        assert second["ends_at"] < created["ends_at"]
        moved = f"session {created['room_name']} ends at {second['ends_at']}"
        await eventually(worker_log, lambda log: moved in log, what="the agent told its session's end moved")
        status = (await http.get(f"{service.base_url}{BASE}/{created['room_name']}", headers=headers)).json()
        assert status["ends_at"] == second["ends_at"]
