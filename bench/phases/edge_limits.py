"""Issue 11: the service's CPU per create with the edge limits on against off, in the same run.

Both variants are the shipped service on the in-process store with the guardrails
off, differing only in HTTP_LIMITS_ENABLED. Creates run in ABBA bursts, and the
service process's own CPU time is divided by the creates it served. A body over
the limit first shows that the setting reached each service (413 only when on).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from bench.clients import UnexpectedAnswer
from bench.harness import Harness
from bench.progress import progress
from bench.stats import ratio
from bench.targets import BULK_PHASE_ENV, Settings, Target
from bench.variants import Variants, serving_variants

LIMITS_ON: Final = Target(
    "edge_limits_on",
    "in-process store, HTTP_LIMITS_ENABLED=true (the default)",
    env={**BULK_PHASE_ENV, "HTTP_LIMITS_ENABLED": "true"},
)
LIMITS_OFF: Final = Target(
    "edge_limits_off",
    "in-process store, HTTP_LIMITS_ENABLED=false",
    env={**BULK_PHASE_ENV, "HTTP_LIMITS_ENABLED": "false"},
)
# Over the default body limit, under any proxy's: 413 from the service only if its limits are on.
_OVERSIZED_BODY: Final = b'{"agent_type": "' + b"x" * (64 * 1024) + b'"}'


async def _check_setting_reached(variants: Variants) -> None:
    for target, limited in ((LIMITS_ON, True), (LIMITS_OFF, False)):
        client = variants.users[target.name].client
        answer = await client.post(
            "/api/v1/voice-sessions", content=_OVERSIZED_BODY, headers={"Content-Type": "application/json"}
        )
        if (answer.status_code == 413) != limited:
            raise UnexpectedAnswer(
                f"{target.name}: an oversized body got {answer.status_code}: "
                "HTTP_LIMITS_ENABLED did not reach the service"
            )


async def edge_limits_phase(h: Harness, settings: Settings, log_dir: Path) -> dict[str, Any]:
    plan = h.plan
    rounds = plan.throughput_rounds * 2  # more alternations: CPU time is read in clock ticks
    per_round = plan.throughput_count // rounds
    progress(
        f"edge limits: service CPU per create, HTTP_LIMITS_ENABLED on vs off, "
        f"{rounds} ABBA bursts of {per_round} creates each"
    )
    async with serving_variants(h, [LIMITS_ON, LIMITS_OFF], settings, log_dir) as variants:
        await _check_setting_reached(variants)
        bursts = await variants.bursts([LIMITS_ON.name, LIMITS_OFF.name], count=per_round, rounds=rounds)
    cpu_ms = {
        side: bursts[target.name]["cpu_ms_per_request"][target.name]
        for side, target in (("on", LIMITS_ON), ("off", LIMITS_OFF))
    }
    return {
        "targets": {t.name: t.description for t in (LIMITS_ON, LIMITS_OFF)},
        "service_cpu_ms_per_create": cpu_ms,
        "cpu_ratio": ratio(cpu_ms["on"], cpu_ms["off"]),
        "rps": {"on": bursts[LIMITS_ON.name]["rps"], "off": bursts[LIMITS_OFF.name]["rps"]},
        "bursts": bursts,
    }
