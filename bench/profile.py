"""``--profile``: the service in this process under pyinstrument, through a short workload.

Figures under a profiler are not benchmarks; this says where the time goes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.clients import ApiUser, bearer, http_client
from bench.direct import delete_rooms
from bench.harness import livekit_client
from bench.loops import burst
from bench.plan import Plan
from bench.progress import progress
from bench.service import InProcessService, running
from bench.targets import LiveKitAccess, Target, service_environment

_TARGET = Target("in-process", "voicecore_http in this process's thread, under pyinstrument")


async def _workload(base_url: str, auth_secret: str, livekit: LiveKitAccess, count: int) -> None:
    async with (
        http_client(base_url, bearer(_TARGET.user_id, auth_secret), connections=32) as client,
        livekit_client(livekit) as lk,
    ):
        user = ApiUser(_TARGET.name, client, _TARGET.user_id)
        made: set[str] = set()
        for _ in range(count):
            made.add(await user.create())
        room = next(iter(made))
        for _ in range(count):
            await user.status(room)

        async def create(_: int) -> None:
            made.add(await user.create())

        await burst(create, count=count, in_flight=32)
        await delete_rooms(lk, made)


def profile(plan: Plan, livekit: LiveKitAccess, auth_secret: str, results: Path) -> int:
    html, text = results / "profile.html", results / "profile.txt"
    service = InProcessService(
        _TARGET.name, service_environment(_TARGET, livekit, auth_secret), profile_to=html
    )
    count = 200 if plan.mode == "quick" else 600
    progress(
        f"profile: in-process uvicorn under pyinstrument; "
        f"{count} creates, {count} statuses, {count} concurrent"
    )
    with running([service]):
        asyncio.run(_workload(service.base_url, auth_secret, livekit, count))
    text.write_text(service.profile_text)
    print(service.profile_text)
    progress(f"profile written to {html} and {text} (figures under a profiler are not benchmarks)")
    return 0
