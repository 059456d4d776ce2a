"""Issue 11: the service's CPU per create with the edge limits on against off, in the same run.

Both variants are the shipped service on the in-process store with the guardrails
off, differing only in HTTP_LIMITS_ENABLED. Creates run in ABBA bursts, and the
service process's own CPU time is divided by the creates it served. A body over
the limit first shows that the setting reached each service (413 only when on).
"""

from __future__ import annotations

from typing import Any, Final

from bench.clients import UnexpectedAnswer
from bench.harness import Harness
from bench.progress import progress
from bench.stats import ratio
from bench.targets import EDGE_LIMITS_OFF, EDGE_LIMITS_ON
from bench.variants import Variants, serving_variants

# Over the default body limit, under any proxy's: 413 from the service only if its limits are on.
_OVERSIZED_BODY: Final = b'{"agent_type": "' + b"x" * (64 * 1024) + b'"}'


async def _check_setting_reached(variants: Variants) -> None:
    for target, limited in ((EDGE_LIMITS_ON, True), (EDGE_LIMITS_OFF, False)):
        client = variants.users[target.name].client
        answer = await client.post(
            "/api/v1/voice-sessions", content=_OVERSIZED_BODY, headers={"Content-Type": "application/json"}
        )
        if (answer.status_code == 413) != limited:
            raise UnexpectedAnswer(
                f"{target.name}: an oversized body got {answer.status_code}: "
                "HTTP_LIMITS_ENABLED did not reach the service"
            )


async def edge_limits_phase(h: Harness) -> dict[str, Any]:
    plan = h.plan
    rounds = plan.throughput_rounds * 2  # more alternations: CPU time is read in clock ticks
    per_round = plan.throughput_count // rounds
    progress(
        f"edge limits: service CPU per create, HTTP_LIMITS_ENABLED on vs off, "
        f"{rounds} ABBA bursts of {per_round} creates each"
    )
    async with serving_variants(h, [EDGE_LIMITS_ON, EDGE_LIMITS_OFF]) as variants:
        await _check_setting_reached(variants)
        bursts = await variants.bursts(
            [EDGE_LIMITS_ON.name, EDGE_LIMITS_OFF.name], count=per_round, rounds=rounds
        )
    cpu_ms = {
        side: bursts[target.name]["cpu_ms_per_request"][target.name]
        for side, target in (("on", EDGE_LIMITS_ON), ("off", EDGE_LIMITS_OFF))
    }
    return {
        "targets": {t.name: t.description for t in (EDGE_LIMITS_ON, EDGE_LIMITS_OFF)},
        "service_cpu_ms_per_create": cpu_ms,
        "cpu_ratio": ratio(cpu_ms["on"], cpu_ms["off"]),
        "rps": {"on": bursts[EDGE_LIMITS_ON.name]["rps"], "off": bursts[EDGE_LIMITS_OFF.name]["rps"]},
        "bursts": bursts,
    }
