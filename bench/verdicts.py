"""Which goals (bench.goals) a run's figures meet; a goal no phase measured is listed as such."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench import goals
from bench.journal_targets import JOURNAL_ON
from bench.stats import p50_difference_ms, ratio
from bench.targets import PRIMARY, PROXY, PROXY_REDIS, REDIS

REDIS_UNUSED = "redis-server received no commands: the service ran its in-process path, not the Redis store"
FLOOR_ADDED_NOTHING = "one bare Redis call added nothing to the floor's p50 in this run: no ratio to form"
INSERT_ADDED_NOTHING = "one bare INSERT added nothing to the floor's p50 in this run: no ratio to form"

_ADDED_VS_FLOOR = {goals.REDIS_CREATE_ADDED_VS_FLOOR: "create", goals.REDIS_STATUS_ADDED_VS_FLOOR: "status"}


def redis_added_ms(block: Mapping[str, Any]) -> tuple[float, float] | None:
    """What the Redis store added to a phase's p50, and what one bare redis-py call added to the floor's.

    None when the phase did not serve all four targets.
    """
    if not all(name in block for name in (PRIMARY, REDIS, PROXY, PROXY_REDIS)):
        return None
    return p50_difference_ms(block, REDIS, PRIMARY), p50_difference_ms(block, PROXY_REDIS, PROXY)


def _ratios_to_direct(results: Mapping[str, Any]) -> list[tuple[goals.Goal, str, float]]:
    found: list[tuple[goals.Goal, str, float]] = []
    if "create" in results:
        found.append((goals.CREATE_P50_VS_DIRECT, PRIMARY, results["create"]["ratio_p50"][PRIMARY]))
    if "status" in results:
        found.append((goals.STATUS_P50_VS_DIRECT, PRIMARY, results["status"]["ratio_p50"][PRIMARY]))
    if "throughput" in results:
        found.append((goals.THROUGHPUT_VS_DIRECT, PRIMARY, results["throughput"]["ratio_rps"][PRIMARY]))
    if "list" in results:
        list_ratios = results["list"]["ratio_other_rooms_p50"]
        found += [
            (goals.LIST_WITH_OTHER_ROOMS, name, list_ratios[name]) for name in results["list"]["stores"]
        ]
    for pair in results.get("guardrails", {}).get("stores", {}).values():
        found.append((goals.GUARDRAILS_CREATE_P50, pair["on"], pair["create_p50_ratio"]))
        found.append((goals.GUARDRAILS_THROUGHPUT, pair["on"], pair["throughput_ratio"]))
    for database, figures in results.get("app_webhooks", {}).get("databases", {}).items():
        subject = f"hooks_on_{database}"
        found.append((goals.APP_WEBHOOKS_CREATE_P50, subject, figures["create_p50_ratio"]))
        found.append((goals.APP_WEBHOOKS_DELIVERY_P50, subject, figures["delivery"]["p50_ms"]))
    if "edge_limits" in results:
        found.append((goals.EDGE_LIMITS_CPU, "edge_limits_on", results["edge_limits"]["cpu_ratio"]))
    return found + _against_the_floor(results) + _journal_figures(results)


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


def _journal_figures(results: Mapping[str, Any]) -> list[tuple[goals.Goal, str, float]]:
    found: list[tuple[goals.Goal, str, float]] = []
    if "history" in results:
        history = results["history"]
        found += [
            (goals.HISTORY_WITH_OTHER_RECORDS, n, r) for n, r in history["ratio_other_records_p50"].items()
        ]
        found += [
            (goals.HISTORY_PAGE_END_VS_START, n, p["end_over_start"]) for n, p in history["paging"].items()
        ]
    if "journal" in results:
        live = results["journal"]["live_reads"]
        for goal, read in (
            (goals.JOURNAL_STATUS_UNCHANGED, "status"),
            (goals.JOURNAL_LIST_UNCHANGED, "list"),
        ):
            found += [(goal, name, f["interval_95"][0]) for name, f in live[f"{read}_vs_none"].items()]
    for subject, value in results.get("metrics_flood", {}).get("ratio_p50", {}).items():
        found.append((goals.METRICS_FLOOD_P50, subject, value))
    return found


def _journal_create(results: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """What each database adds to voicecore's create p50 over what one bare INSERT adds to the floor's."""
    judged: list[dict[str, Any]] = []
    not_judged: dict[str, str] = {}
    goal = goals.JOURNAL_CREATE_ADDED_VS_FLOOR
    for mode, added in results.get("journal", {}).get("create", {}).get("added_p50_ms", {}).items():
        subject = JOURNAL_ON[mode]
        if added["floor"] <= 0:
            not_judged[f"{goal.key} ({subject})"] = f"{INSERT_ADDED_NOTHING} ({added['floor']:+.3f} ms)"
            continue
        verdict = goal.judge(subject, ratio(added["voicecore"], added["floor"]))
        judged.append(verdict | {"added_ms": added["voicecore"], "floor_added_ms": added["floor"]})
    return judged, not_judged


def verdicts(results: Mapping[str, Any]) -> dict[str, Any]:
    judged = [goal.judge(subject, value) for goal, subject, value in _ratios_to_direct(results)]
    not_judged: dict[str, str] = {}
    judged += bounds_verdicts(results)

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
    journal_judged, journal_not_judged = _journal_create(results)
    judged += journal_judged
    not_judged |= journal_not_judged
    if results.get("redis", {}).get("commands_from_services") == 0:
        for verdict in judged:
            if verdict["subject"] == REDIS:
                verdict["caveat"] = REDIS_UNUSED
    seen = {j["goal"] for j in judged} | {key.split(" ")[0] for key in not_judged}
    return {
        "judged_on": f"{PRIMARY} (LOG_LEVEL=INFO, the default, in-process store); the Redis goals on {REDIS}",
        "verdicts": judged,
        "not_judged": not_judged,
        "not_measured_yet": [goal.key for goal in goals.ALL if goal.key not in seen],
    }


def bounds_verdicts(results: Mapping[str, Any]) -> list[dict[str, object]]:
    """Issue 20: each store's create ratio; the slowest lag of each run at BOUNDS_LAG_SESSIONS live."""
    judged = [
        goals.BOUNDS_CREATE_P50.judge(pair["on"], pair["create_p50_ratio"])
        for pair in results.get("bounds_create", {}).get("stores", {}).values()
    ]
    for key, run in results.get("bounds_enforcement", {}).get("scenarios", {}).items():
        if run["sessions"] == goals.BOUNDS_LAG_SESSIONS:
            verdict = goals.BOUNDS_LAG_MAX.judge(key, run["lag"]["max_s"])
            if run["missed"]:
                verdict |= {"met": False, "caveat": f"{run['missed']} sessions were never ended in the run"}
            judged.append(verdict | {"scenario": run["label"]})
    return judged
