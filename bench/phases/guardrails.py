"""Issue 13: what the guardrails cost a create, on each store: on against off, in the same run.

"On" has limits so high nothing is ever refused (every check runs, no answer
changes), "off" turns them off as the bulk phases do. Each store's pair is
measured interleaved: create latency one at a time, then throughput in ABBA bursts.
"""

from __future__ import annotations

from typing import Any

from bench.harness import Harness
from bench.progress import progress
from bench.stats import latency_block, percentile, ratio
from bench.targets import guardrail_targets
from bench.variants import serving_variants


async def guardrails_phase(h: Harness) -> dict[str, Any]:
    plan = h.plan
    pairs = guardrail_targets()
    targets = [t for pair in pairs.values() for t in pair]
    progress(
        f"guardrails: create latency ({plan.latency_rounds} rounds x {plan.latency_block}) and "
        f"{plan.throughput_count} creates per side in bursts, on vs off, each store"
    )
    out: dict[str, Any] = {"targets": {t.name: t.description for t in targets}, "stores": {}}
    async with serving_variants(h, targets) as variants:
        names = [t.name for t in targets]
        samples = await variants.latency(names)
        latency = latency_block(samples, None)  # the ratios that matter are each pair's, below
        per_round = plan.throughput_count // plan.throughput_rounds
        bursts = await variants.bursts(names, count=per_round, rounds=plan.throughput_rounds)
    for mode, (on, off) in pairs.items():
        out["stores"][mode] = {
            "on": on.name,
            "off": off.name,
            "create_p50_ms": {"on": latency[on.name]["p50_ms"], "off": latency[off.name]["p50_ms"]},
            "create_p50_ratio": ratio(percentile(samples[on.name], 50), percentile(samples[off.name], 50)),
            "rps": {"on": bursts[on.name]["rps"], "off": bursts[off.name]["rps"]},
            "throughput_ratio": ratio(bursts[on.name]["rps"], bursts[off.name]["rps"]),
        }
    out["latency"] = latency
    out["throughput"] = bursts
    return out
