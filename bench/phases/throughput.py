"""Throughput: fixed-count bursts of creates with many in flight, every service and direct in ABBA order."""

from __future__ import annotations

from typing import Any

from bench.clients import ApiUser
from bench.harness import Harness
from bench.loops import Burst, SlotOperation, burst
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
    names = list(operations)
    for name in names:
        await burst(operations[name], count=plan.warmup_burst, in_flight=plan.in_flight)
        await h.rooms.delete_and_settle()
    bursts: dict[str, list[Burst]] = {name: [] for name in names}
    cpu: dict[str, dict[str, float]] = {name: dict.fromkeys(h.meter.pids, 0.0) for name in names}
    for round_index in range(plan.throughput_rounds):
        for name in names if round_index % 2 == 0 else reversed(names):
            before = h.meter.snapshot()
            bursts[name].append(await burst(operations[name], count=per_round, in_flight=plan.in_flight))
            for process, used in h.meter.since(before).items():
                cpu[name][process] += used
            await h.rooms.delete_and_settle()
    out: dict[str, Any] = {"in_flight": plan.in_flight, "cpu_processes": list(h.meter.pids)}
    out |= {name: burst_summary(b, cpu[name]) for name, b in bursts.items()}
    out["ratio_rps"] = {
        name: ratio(out[name]["rps"], out["direct"]["rps"]) for name in names if name != "direct"
    }
    return out
