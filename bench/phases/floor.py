"""Issue 22: status in its three agent cases, and a 2-room list, against the raw-ASGI floor's same work.

The floor (``floor_proxy``, bench.floor_app) answers a status with ListRooms(names=[one])
and ListParticipants, concurrently, and a list with ListRooms(names=its index) and one
ListParticipants per room: what a hand-written service on the same uvicorn does, with no
framework, authentication, logging or store. voicecore's status is measured:

- with no agent configured (``api``);
- with an agent configured and pending (``api_agent``: an agent name no worker serves);
- with an agent in the room (``api``, a room an agent participant has joined).

Each listing side has exactly 2 live sessions. All six are sampled interleaved.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from livekit import api, rtc

from bench.clients import ApiUser
from bench.harness import Harness
from bench.loops import Operation
from bench.progress import progress
from bench.stats import latency_block, percentile, ratio
from bench.targets import AGENT_PENDING, PRIMARY, PROXY, LiveKitAccess
from bench.variants import serving_variants

# The three status cases, each against the floor's status.
STATUS_CASES = {
    "no_agent": "status_no_agent",
    "agent_pending": "status_agent_pending",
    "agent_in_room": "status_agent_in_room",
}
FLOOR_STATUS, FLOOR_LIST, API_LIST = "floor_status", "floor_list", "api_list"


@contextlib.asynccontextmanager
async def agent_in(livekit: LiveKitAccess, room: str) -> AsyncIterator[rtc.Room]:
    """A participant of kind agent in ``room`` for the block, as a worker's agent would be."""
    token = (
        api.AccessToken(livekit.api_key, livekit.api_secret)
        .with_identity("bench-agent")
        .with_kind("agent")
        .with_grants(api.VideoGrants(room_join=True, room=room, agent=True))
        .to_jwt()
    )
    connected = rtc.Room()
    await connected.connect(livekit.url, token, rtc.RoomOptions(auto_subscribe=False))
    try:
        yield connected
    finally:
        await connected.disconnect()


def _status(user: ApiUser, room: str) -> Operation:
    async def op() -> None:
        await user.status(room)

    return op


async def floor_phase(h: Harness) -> dict[str, Any]:
    plan = h.plan
    progress(
        f"against the floor: status (no agent, agent pending, agent in the room) and a 2-room list, "
        f"{plan.latency_rounds} rounds x {plan.latency_block} per side"
    )
    await h.rooms.delete_and_settle()  # the floor's index then holds only the rooms made here
    primary, floor = h.users[PRIMARY], h.users[PROXY]
    lister = await h.user(API_LIST, str(primary.client.base_url), f"{primary.user_id}-floor-list")
    async with serving_variants(h, [AGENT_PENDING]) as variants:
        listed = [await lister.create() for _ in range(plan.owned_rooms)]
        floor_rooms = [await floor.create() for _ in range(plan.owned_rooms)]
        with_agent = await primary.create()
        pending = await variants.users[AGENT_PENDING.name].create()
        h.rooms.made.update([*listed, *floor_rooms, with_agent, pending])
        await floor.list_sessions()  # untimed: the floor's index forgets what other phases deleted
        operations: dict[str, Operation] = {
            STATUS_CASES["no_agent"]: _status(lister, listed[0]),
            STATUS_CASES["agent_pending"]: _status(variants.users[AGENT_PENDING.name], pending),
            STATUS_CASES["agent_in_room"]: _status(primary, with_agent),
            FLOOR_STATUS: _status(floor, floor_rooms[0]),
            API_LIST: lister.list_sessions,
            FLOOR_LIST: floor.list_sessions,
        }
        async with agent_in(h.livekit, with_agent):
            if sorted(await lister.list_sessions()) != sorted(listed):
                raise RuntimeError("api: the list returned the wrong rooms")
            if sorted(await floor.list_sessions()) != sorted(floor_rooms):
                raise RuntimeError("floor: the list returned the wrong rooms")
            cpu: dict[str, dict[str, float]] = {}
            samples = await h.sample(operations, cpu=cpu)
    block = latency_block(samples, None, cpu)
    floor_p50 = percentile(samples[FLOOR_STATUS], 50)
    block["status_vs_floor_p50"] = {
        case: ratio(percentile(samples[name], 50), floor_p50) for case, name in STATUS_CASES.items()
    }
    block["list_vs_floor_p50"] = ratio(percentile(samples[API_LIST], 50), percentile(samples[FLOOR_LIST], 50))
    block["owned_rooms_when_listing"] = plan.owned_rooms
    return block
