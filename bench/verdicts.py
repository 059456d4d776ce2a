"""Which goals (bench.goals) a run's figures meet; a goal no phase measured is listed as such."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench import goals
from bench.summaries import p50_difference_ms
from bench.targets import PRIMARY, PROXY, PROXY_REDIS, REDIS


def _measured(results: Mapping[str, Any]) -> list[tuple[goals.Goal, str, float]]:
    found: list[tuple[goals.Goal, str, float]] = [
        (goals.CREATE_P50_VS_DIRECT, PRIMARY, results["create"]["ratio_p50"][PRIMARY]),
        (goals.STATUS_P50_VS_DIRECT, PRIMARY, results["status"]["ratio_p50"][PRIMARY]),
        (goals.THROUGHPUT_VS_DIRECT, PRIMARY, results["throughput"]["ratio_rps"][PRIMARY]),
    ]
    list_ratios = results["list"]["ratio_other_rooms_p50"]
    found += [(goals.LIST_WITH_OTHER_ROOMS, name, list_ratios[name]) for name in results["list"]["stores"]]
    for goal, phase in ((goals.REDIS_CREATE_P50_ADDED, "create"), (goals.REDIS_STATUS_P50_ADDED, "status")):
        block = results[phase]
        if REDIS in block and PRIMARY in block:
            found.append((goal, REDIS, p50_difference_ms(block, REDIS, PRIMARY)))
    for pair in results.get("guardrails", {}).get("stores", {}).values():
        found.append((goals.GUARDRAILS_CREATE_P50, pair["on"], pair["create_p50_ratio"]))
        found.append((goals.GUARDRAILS_THROUGHPUT, pair["on"], pair["throughput_ratio"]))
    if "edge_limits" in results:
        found.append((goals.EDGE_LIMITS_CPU, "edge_limits_on", results["edge_limits"]["cpu_ratio"]))
    return found


REDIS_UNUSED = "redis-server received no commands: the service ran its in-process path, not the Redis store"


def redis_floor_ms(results: Mapping[str, Any], phase: str) -> float | None:
    """What one bare redis-py call added to the floor service's p50 in this run (None if not run)."""
    block = results.get(phase, {})
    if PROXY_REDIS in block and PROXY in block:
        return p50_difference_ms(block, PROXY_REDIS, PROXY)
    return None


_FLOOR_PHASES = {goals.REDIS_CREATE_P50_ADDED.key: "create", goals.REDIS_STATUS_P50_ADDED.key: "status"}


def verdicts(results: Mapping[str, Any]) -> dict[str, Any]:
    judged = [goal.judge(subject, value) for goal, subject, value in _measured(results)]
    for verdict in judged:
        phase = _FLOOR_PHASES.get(str(verdict["goal"]))
        if phase is not None and (floor := redis_floor_ms(results, phase)) is not None:
            verdict["floor"] = floor
    if results.get("redis", {}).get("commands_from_services") == 0:
        for verdict in judged:
            if verdict["subject"] == REDIS:
                verdict["caveat"] = REDIS_UNUSED
    seen = {j["goal"] for j in judged}
    return {
        "judged_on": f"{PRIMARY} (LOG_LEVEL=INFO, the default, in-process store); the Redis goals on {REDIS}",
        "verdicts": judged,
        "not_measured_yet": [goal.key for goal in goals.ALL if goal.key not in seen],
    }
