"""Status latency, one request at a time: every service against direct livekit-api, on a room each."""

from __future__ import annotations

from typing import Any

from bench.clients import ApiUser
from bench.harness import Harness
from bench.loops import Operation
from bench.progress import progress
from bench.stats import latency_block
from bench.targets import DIRECT_USER


async def status_phase(h: Harness) -> dict[str, Any]:
    plan = h.plan
    progress(f"status latency: {plan.latency_rounds} rounds x {plan.latency_block} per side")
    room_of = {name: await user.create() for name, user in h.users.items()}
    room_of["direct"] = (await h.direct.create(DIRECT_USER))[0]
    h.rooms.made.update(room_of.values())

    def api_status(user: ApiUser, room: str) -> Operation:
        async def op() -> None:
            await user.status(room)

        return op

    async def direct_status() -> None:
        await h.direct.status(DIRECT_USER, room_of["direct"])

    operations = {name: api_status(user, room_of[name]) for name, user in h.users.items()}
    operations["direct"] = direct_status
    cpu: dict[str, dict[str, float]] = {}
    samples = await h.sample(operations, cpu=cpu)
    await h.rooms.delete()
    return latency_block(samples, "direct", cpu)
