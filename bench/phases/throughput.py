"""Throughput: fixed-count bursts of creates with many in flight, every service and direct in ABBA order."""

from __future__ import annotations

from typing import Any

from bench.clients import ApiUser
from bench.harness import Harness
from bench.loops import SlotOperation, abba_bursts
from bench.progress import progress
from bench.stats import burst_summary, ratio
from bench.targets import DIRECT_USER


async def throughput_phase(h: Harness) -> dict[str, Any]:
    plan = h.plan
    per_round = plan.throughput_count // plan.throughput_rounds
    progress(
        f"throughput: {plan.throughput_count} creates per side with {plan.in_flight} in flight, "
        f"{plan.throughput_rounds} rounds of {per_round} in ABBA order, "
        f"after a {plan.warmup_burst}-create warm-up"
    )

    def api_create(pool: list[ApiUser]) -> SlotOperation:
        async def op(slot: int) -> None:
            h.rooms.made.add(await pool[slot].create())

        return op

    async def direct_create(_: int) -> None:
        h.rooms.made.add((await h.direct.create(DIRECT_USER))[0])

    operations = {name: api_create(pool) for name, pool in h.pools.items()} | {"direct": direct_create}
    sides = await abba_bursts(
        operations,
        count=per_round,
        rounds=plan.throughput_rounds,
        in_flight=plan.in_flight,
        warmup=plan.warmup_burst,
        meter=h.meter,
        between=h.rooms.delete_and_settle,
    )
    out: dict[str, Any] = {"in_flight": plan.in_flight}
    out |= {name: burst_summary(*side) for name, side in sides.items()}
    out["ratio_rps"] = {name: ratio(out[name]["rps"], out["direct"]["rps"]) for name in h.pools}
    return out
