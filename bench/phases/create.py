"""Create latency, one request at a time: every service against direct livekit-api, and the HTTP floor."""

from __future__ import annotations

from typing import Any

from bench.clients import ApiUser
from bench.harness import Harness
from bench.loops import Operation
from bench.progress import progress
from bench.stats import latency_block
from bench.targets import DIRECT_USER, FLOOR, PRIMARY


async def create_phase(h: Harness) -> dict[str, Any]:
    plan = h.plan
    progress(
        f"create latency: {plan.latency_rounds} rounds x {plan.latency_block} per side "
        f"({', '.join(h.users)}, direct), {plan.warmup_rounds} warm-up rounds discarded"
    )

    def api_create(user: ApiUser) -> Operation:
        async def op() -> None:
            h.rooms.made.add(await user.create())

        return op

    async def direct_create() -> None:
        h.rooms.made.add((await h.direct.create(DIRECT_USER))[0])

    operations = {name: api_create(user) for name, user in h.users.items()} | {"direct": direct_create}
    # The floor: the same client's round trip to the same server, doing nothing.
    operations[FLOOR] = h.users[PRIMARY].healthz
    cpu: dict[str, dict[str, float]] = {}
    samples = await h.sample(operations, between_rounds=h.rooms.delete_and_settle, cpu=cpu)
    return latency_block(samples, "direct", cpu)
