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


def _ratios_to_direct(results: Mapping[str, Any]) -> list[tuple[goals.Goal, str, float]]:
    found: list[tuple[goals.Goal, str, float]] = [
        (goals.CREATE_P50_VS_DIRECT, PRIMARY, results["create"]["ratio_p50"][PRIMARY]),
        (goals.STATUS_P50_VS_DIRECT, PRIMARY, results["status"]["ratio_p50"][PRIMARY]),
        (goals.THROUGHPUT_VS_DIRECT, PRIMARY, results["throughput"]["ratio_rps"][PRIMARY]),
    ]
    list_ratios = results["list"]["ratio_other_rooms_p50"]
    found += [(goals.LIST_WITH_OTHER_ROOMS, name, list_ratios[name]) for name in results["list"]["stores"]]
    for pair in results.get("guardrails", {}).get("stores", {}).values():
        found.append((goals.GUARDRAILS_CREATE_P50, pair["on"], pair["create_p50_ratio"]))
        found.append((goals.GUARDRAILS_THROUGHPUT, pair["on"], pair["throughput_ratio"]))
    if "edge_limits" in results:
        found.append((goals.EDGE_LIMITS_CPU, "edge_limits_on", results["edge_limits"]["cpu_ratio"]))
    return found + _against_the_floor(results)


def _against_the_floor(results: Mapping[str, Any]) -> list[tuple[goals.Goal, str, float]]:
    """Issue 22's goals: voicecore over the raw-ASGI floor's same work, and its own sessions' cost."""
    found: list[tuple[goals.Goal, str, float]] = []
    create, throughput = results.get("create", {}), results.get("throughput", {})
    if PROXY in create:
        found.append(
            (goals.CREATE_VS_FLOOR, PRIMARY, ratio(create[PRIMARY]["p50_ms"], create[PROXY]["p50_ms"]))
        )
    if PROXY in throughput:
        rps = ratio(throughput[PRIMARY]["rps"], throughput[PROXY]["rps"])
        found.append((goals.THROUGHPUT_VS_FLOOR, PRIMARY, rps))
    if "floor" in results:
        floor = results["floor"]
        found += [
            (goals.STATUS_VS_FLOOR, case, value) for case, value in floor["status_vs_floor_p50"].items()
        ]
        found.append((goals.LIST_VS_FLOOR, PRIMARY, floor["list_vs_floor_p50"]))
    if "own_sessions" in results:
        own = results["own_sessions"]
        found.append((goals.OWN_SESSIONS_CREATE_P50, PRIMARY, own["create_p50_ratio"]))
        found.append((goals.OWN_SESSIONS_CPU, PRIMARY, own["service_cpu_ratio"]))
    return found


def verdicts(results: Mapping[str, Any]) -> dict[str, Any]:
    judged = [goal.judge(subject, value) for goal, subject, value in _ratios_to_direct(results)]
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
