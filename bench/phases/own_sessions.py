"""Issue 22: no cost grows with the user's own sessions.

On the one ``api`` service (guardrails off, as in every bulk phase), a user with
``OWN_SESSIONS`` live sessions and a user with none create sessions, interleaved:
create p50, and the service's CPU per create, of the first over the second. The
live sessions are made through the service first, so its index and its journal
hold them all; what each side creates while measured is ended through the service
between rounds (untimed), so both keep their count.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.clients import ApiUser
from bench.goals import OWN_SESSIONS
from bench.harness import Harness
from bench.loops import Operation
from bench.progress import progress
from bench.stats import latency_block, percentile, ratio
from bench.targets import PRIMARY

HEAVY, FRESH = "with_own_sessions", "with_none"
_FILL_IN_FLIGHT = 16


async def _fill(h: Harness, user: ApiUser, count: int) -> set[str]:
    """``count`` live sessions for ``user``, made through the service, 16 at a time (untimed)."""
    base_url = str(user.client.base_url)
    workers = [await h.user(user.name, base_url, user.user_id) for _ in range(_FILL_IN_FLIGHT)]
    made: set[str] = set()

    async def work(worker: ApiUser, share: int) -> None:
        for _ in range(share):
            made.add(await worker.create())

    shares = [count // len(workers) + (i < count % len(workers)) for i in range(len(workers))]
    await asyncio.gather(*(work(w, n) for w, n in zip(workers, shares, strict=True)))
    return made


async def own_sessions_phase(h: Harness) -> dict[str, Any]:
    plan = h.plan
    service = h.users[PRIMARY]
    base_url = str(service.client.base_url)
    heavy = await h.user(HEAVY, base_url, f"{service.user_id}-own-{OWN_SESSIONS}")
    fresh = await h.user(FRESH, base_url, f"{service.user_id}-own-0")
    started = time.perf_counter()
    kept = await _fill(h, heavy, OWN_SESSIONS)
    h.rooms.made.update(kept)
    progress(
        f"own sessions: {len(kept)} live sessions made for one user in {time.perf_counter() - started:.1f}s; "
        f"create latency against a user with none, {plan.latency_rounds} rounds x {plan.latency_block}"
    )
    made: dict[str, list[tuple[ApiUser, str]]] = {HEAVY: [], FRESH: []}

    def create(name: str, user: ApiUser) -> Operation:
        async def op() -> None:
            made[name].append((user, await user.create()))

        return op

    async def end_what_was_measured() -> None:
        for sessions in made.values():
            for user, room in sessions:
                await user.end(room)
            sessions.clear()

    cpu: dict[str, dict[str, float]] = {}
    samples = await h.sample(
        {HEAVY: create(HEAVY, heavy), FRESH: create(FRESH, fresh)},
        between_rounds=end_what_was_measured,
        cpu=cpu,
    )
    await end_what_was_measured()
    block = latency_block(samples, None, cpu)
    block["own_sessions"] = OWN_SESSIONS
    block["create_p50_ratio"] = ratio(percentile(samples[HEAVY], 50), percentile(samples[FRESH], 50))
    per_create = block["cpu_ms_per_request"]
    block["service_cpu_ratio"] = ratio(per_create[HEAVY][PRIMARY], per_create[FRESH][PRIMARY])
    await h.rooms.delete_and_settle()
    return block
