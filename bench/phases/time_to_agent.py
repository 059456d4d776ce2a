"""Issue 14: time to agent, voicecore's way against LiveKit's agent starter's way, in one run.

voicecore: POST create to the service (LIVEKIT_AGENT_NAME set: the room is created with the
dispatch), then a ``livekit`` rtc client joins with the returned token. The starter: a join
token carrying a ``RoomConfiguration`` dispatch, no room created beforehand, on a second
server with auto_create on. Each side has its own server and its own real dev agent worker;
samples alternate ABBA, one session at a time, and every room is deleted after its sample.

From the request start: when the user's rtc client is connected, and when the agent is in the
room (its participant_connected event, or, when it was there first, its server-side join time).
The figure that matters is agent present minus user connected: negative, the agent was waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import httpx
from livekit import api, rtc

from bench.clients import BASE, bearer, http_client
from bench.direct import delete_rooms
from bench.harness import livekit_client
from bench.plan import Plan
from bench.plot import ecdf_plot
from bench.progress import progress
from bench.service import running, target_process
from bench.stats import percentile
from bench.targets import LiveKitAccess, agent_target, service_environment
from tests.support.agent_worker import DEV_AGENT_NAME, running_agent_worker
from voicecore.testing.livekit_server import LocalLiveKitServer, running_livekit_server

VOICECORE: Final = "voicecore"
STARTER: Final = "agent_starter"
AGENT_WAIT_S: Final = 30.0
# Lets the worker re-warm its idle job process between sessions, as in a deployment not at capacity.
SETTLE_S: Final = 1.0
USER_ID: Final = "bench-time-to-agent"


@dataclass(frozen=True)
class Sample:
    user_connected_s: float
    agent_present_s: float | None  # None: no agent within AGENT_WAIT_S
    agent_first: bool  # the agent was in the room when the user's connect returned

    @property
    def gap_s(self) -> float | None:
        return None if self.agent_present_s is None else self.agent_present_s - self.user_connected_s


async def _join_and_watch(url: str, token: str, started: float, started_wall: float) -> tuple[Sample, str]:
    """Connect an rtc client, then wait for an agent-kind participant; return the sample and the room."""
    room = rtc.Room()
    agent_seen = asyncio.get_running_loop().create_future()

    def on_participant(participant: rtc.RemoteParticipant) -> None:
        if participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT and not agent_seen.done():
            agent_seen.set_result(time.perf_counter() - started)

    room.on("participant_connected", on_participant)
    try:
        await room.connect(url, token, rtc.RoomOptions(auto_subscribe=False, connect_timeout=10))
        connected = time.perf_counter() - started
        present = [
            p
            for p in room.remote_participants.values()
            if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
        ]
        if present:
            joined_at = present[0].joined_at
            # The server's join time, on this machine's clock; never later than what we saw.
            at = connected if joined_at is None else min(connected, joined_at.timestamp() - started_wall)
            return Sample(connected, at, agent_first=True), room.name
        try:
            agent_at: float | None = await asyncio.wait_for(agent_seen, AGENT_WAIT_S)
        except TimeoutError:
            agent_at = None
        return Sample(connected, agent_at, agent_first=False), room.name
    finally:
        await room.disconnect()


async def _voicecore_sample(http: httpx.AsyncClient) -> tuple[Sample, str]:
    started, started_wall = time.perf_counter(), time.time()
    created = await http.post(BASE, json={"agent_type": "workout"})
    created.raise_for_status()
    body = created.json()
    return await _join_and_watch(body["livekit_url"], body["token"], started, started_wall)


def _starter_token(server: LocalLiveKitServer, room_name: str, identity: str) -> str:
    config = api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name=DEV_AGENT_NAME)])
    return (
        api.AccessToken(server.api_key, server.api_secret)
        .with_identity(identity)
        .with_grants(api.VideoGrants(room_join=True, room=room_name))
        .with_room_config(config)
        .to_jwt()
    )


async def _starter_sample(server: LocalLiveKitServer, index: int) -> tuple[Sample, str]:
    # The starter's token endpoint mints this token in its own backend: minting counts, no HTTP hop.
    started, started_wall = time.perf_counter(), time.time()
    token = _starter_token(server, f"starter-{index}-{int(started_wall * 1000)}", f"user-{index}")
    return await _join_and_watch(server.url, token, started, started_wall)


def _summary(samples: list[Sample]) -> dict[str, Any]:
    gaps = [s.gap_s for s in samples if s.gap_s is not None]
    connected = [s.user_connected_s for s in samples]
    out: dict[str, Any] = {
        "n": len(samples),
        "agent_missed": len(samples) - len(gaps),
        "agent_first_share": round(sum(s.agent_first for s in samples) / len(samples), 3),
        "user_connected_p50_ms": round(percentile(connected, 50) * 1000, 1),
        "user_connected_p95_ms": round(percentile(connected, 95) * 1000, 1),
    }
    if gaps:
        present = [s.agent_present_s for s in samples if s.agent_present_s is not None]
        out |= {
            "agent_present_p50_ms": round(percentile(present, 50) * 1000, 1),
            "agent_present_p95_ms": round(percentile(present, 95) * 1000, 1),
            "gap_p50_ms": round(percentile(gaps, 50) * 1000, 1),
            "gap_p95_ms": round(percentile(gaps, 95) * 1000, 1),
        }
    out["samples"] = [asdict(s) for s in samples]
    return out


def _access(server: LocalLiveKitServer) -> LiveKitAccess:
    return LiveKitAccess(server.url, server.api_key, server.api_secret)


async def _clear(lk: api.LiveKitAPI, made: list[str]) -> int:
    """Delete the rooms this phase made, and whatever else is on the server; how many are left."""
    listed = await lk.room.list_rooms(api.ListRoomsRequest())
    await delete_rooms(lk, {*made, *(r.name for r in listed.rooms)})
    return len((await lk.room.list_rooms(api.ListRoomsRequest())).rooms)


async def _measure(
    count: int,
    service_url: str,
    auth_secret: str,
    voicecore_server: LocalLiveKitServer,
    starter: LocalLiveKitServer,
) -> dict[str, Any]:
    samples: dict[str, list[Sample]] = {VOICECORE: [], STARTER: []}
    rooms: dict[str, list[str]] = {VOICECORE: [], STARTER: []}
    async with (
        http_client(service_url, bearer(USER_ID, auth_secret)) as http,
        livekit_client(_access(voicecore_server)) as voicecore_lk,
        livekit_client(_access(starter)) as starter_lk,
    ):
        takers: dict[str, Callable[[int], Awaitable[tuple[Sample, str]]]] = {
            VOICECORE: lambda _i: _voicecore_sample(http),
            STARTER: lambda i: _starter_sample(starter, i),
        }
        lk = {VOICECORE: voicecore_lk, STARTER: starter_lk}
        try:
            for i in range(count):
                order = [VOICECORE, STARTER] if i % 2 == 0 else [STARTER, VOICECORE]  # ABBA
                for side in order:
                    sample, room = await takers[side](i)
                    samples[side].append(sample)
                    rooms[side].append(room)
                    await delete_rooms(lk[side], [room])
                    await asyncio.sleep(SETTLE_S)
        finally:
            left = {side: await _clear(lk[side], rooms[side]) for side in (VOICECORE, STARTER)}
    return {"sides": {side: _summary(s) for side, s in samples.items()}, "rooms_left_after_cleanup": left}


def time_to_agent_phase(plan: Plan, auth_secret: str, log_dir: Path, png: Path) -> dict[str, Any]:
    """Start both servers, their workers and the service; measure; return the figures and draw the plot."""
    progress(
        f"time to agent: {plan.agent_sessions} sessions per side, voicecore vs the agent starter's token"
    )
    with (
        running_livekit_server() as voicecore_server,
        contextlib.ExitStack() as stack,
    ):
        starter = LocalLiveKitServer(voicecore_server.binary, auto_create_rooms=True)
        stack.callback(starter.cleanup)
        starter.start()
        stack.enter_context(running_agent_worker(voicecore_server))
        stack.enter_context(running_agent_worker(starter))
        target = agent_target(DEV_AGENT_NAME)
        settings = service_environment(target, _access(voicecore_server), auth_secret)
        service = target_process(target, settings, log_dir)
        stack.enter_context(running([service]))
        figures = asyncio.run(
            _measure(plan.agent_sessions, service.base_url, auth_secret, voicecore_server, starter)
        )
    figures["method"] = (
        "one session at a time, ABBA; from the request start (voicecore: POST create; starter: minting "
        "the token) to the rtc client's connect returning, and to the agent's participant_connected "
        "(or its server join time when it was there first); gap = agent present - user connected"
    )
    sides = figures["sides"]
    figures["plot"] = str(
        ecdf_plot(
            png,
            title="Agent present minus user connected (negative: the agent was waiting)",
            x_label="ms",
            samples={
                side: [
                    s["agent_present_s"] * 1000 - s["user_connected_s"] * 1000
                    for s in block["samples"]
                    if s["agent_present_s"] is not None
                ]
                for side, block in sides.items()
            },
        )
    )
    for side, block in sides.items():
        progress(_line(side, block))
    return figures


def _line(side: str, block: dict[str, Any]) -> str:
    return (
        f"time to agent, {side}: gap p50 {block.get('gap_p50_ms')} ms, p95 {block.get('gap_p95_ms')} ms; "
        f"agent there first in {block['agent_first_share']:.0%}; user connected p50 "
        f"{block['user_connected_p50_ms']} ms; missed {block['agent_missed']}/{block['n']}"
    )
