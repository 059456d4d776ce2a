"""Which goals (bench.goals) a run's figures meet; a goal no phase measured is listed as such."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench import goals
from bench.stats import p50_difference_ms, ratio
from bench.targets import PRIMARY, PROXY, PROXY_REDIS, REDIS

REDIS_UNUSED = "redis-server received no commands: the service ran its in-process path, not the Redis store"
FLOOR_ADDED_NOTHING = "one bare Redis call added nothing to the floor's p50 in this run: no ratio to form"

_ADDED_VS_FLOOR = {goals.REDIS_CREATE_ADDED_VS_FLOOR: "create", goals.REDIS_STATUS_ADDED_VS_FLOOR: "status"}


def redis_added_ms(block: Mapping[str, Any]) -> tuple[float, float] | None:
    """What the Redis store added to a phase's p50, and what one bare redis-py call added to the floor's.

    None when the phase did not serve all four targets.
    """
    if not all(name in block for name in (PRIMARY, REDIS, PROXY, PROXY_REDIS)):
        return None
    return p50_difference_ms(block, REDIS, PRIMARY), p50_difference_ms(block, PROXY_REDIS, PROXY)


def _ratios(results: Mapping[str, Any]) -> list[tuple[goals.Goal, str, float]]:
    """Every (goal, subject, ratio) the phases that ran recorded (``--phase`` may run only some)."""
    found: list[tuple[goals.Goal, str, float]] = []
    for goal, phase, key in (
        (goals.CREATE_P50_VS_DIRECT, "create", "ratio_p50"),
        (goals.STATUS_P50_VS_DIRECT, "status", "ratio_p50"),
        (goals.THROUGHPUT_VS_DIRECT, "throughput", "ratio_rps"),
    ):
        if phase in results:
            found.append((goal, PRIMARY, results[phase][key][PRIMARY]))
    if "list" in results:
        ratios = results["list"]["ratio_other_rooms_p50"]
        found += [(goals.LIST_WITH_OTHER_ROOMS, name, ratios[name]) for name in results["list"]["stores"]]
    for pair in results.get("guardrails", {}).get("stores", {}).values():
        found.append((goals.GUARDRAILS_CREATE_P50, pair["on"], pair["create_p50_ratio"]))
        found.append((goals.GUARDRAILS_THROUGHPUT, pair["on"], pair["throughput_ratio"]))
    if "edge_limits" in results:
        found.append((goals.EDGE_LIMITS_CPU, "edge_limits_on", results["edge_limits"]["cpu_ratio"]))
    for subject, value in results.get("metrics_flood", {}).get("ratio_p50", {}).items():
        found.append((goals.METRICS_FLOOD_P50, subject, value))
    return found


def verdicts(results: Mapping[str, Any]) -> dict[str, Any]:
    judged = [goal.judge(subject, value) for goal, subject, value in _ratios(results)]
    not_judged: dict[str, str] = {}
    for goal, phase in _ADDED_VS_FLOOR.items():
        added = redis_added_ms(results.get(phase, {}))
        if added is None:
            continue
        added_ms, floor_ms = added
        if floor_ms <= 0:
            not_judged[goal.key] = f"{FLOOR_ADDED_NOTHING} ({floor_ms:+.3f} ms)"
            continue
        verdict = goal.judge(REDIS, ratio(added_ms, floor_ms))
        judged.append(verdict | {"added_ms": added_ms, "floor_added_ms": floor_ms})
    if results.get("redis", {}).get("commands_from_services") == 0:
        for verdict in judged:
            if verdict["subject"] == REDIS:
                verdict["caveat"] = REDIS_UNUSED
    seen = {j["goal"] for j in judged} | set(not_judged)
    return {
        "judged_on": f"{PRIMARY} (LOG_LEVEL=INFO, the default, in-process store); the Redis goals on {REDIS}",
        "verdicts": judged,
        "not_judged": not_judged,
        "not_measured_yet": [goal.key for goal in goals.ALL if goal.key not in seen],
    }
