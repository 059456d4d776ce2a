"""Issue 23: a /metrics flood must not move a signed-in user's status and list, whatever the store holds.

Per store, the service is served with FLOOD_LIVE_SESSIONS records in its session
store (``bench.filled_service``; records only, see there), and a user of its own
makes real sessions through it. In rounds, for each service in turn, the user's
status and list are timed quiet and then under a flood of FLOOD_SCRAPES_PER_SECOND
``GET /metrics`` from a process of its own (``bench.flood``), the two conditions
in ABBA order. The figure per store and operation: p50 flooded over p50 quiet.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from bench.clients import ApiUser, UnexpectedAnswer
from bench.cpu import CpuMeter, MachineLoad
from bench.flood import FloodProcess, flooding
from bench.goals import FLOOD_LIVE_SESSIONS, FLOOD_SCRAPES_PER_SECOND
from bench.harness import Harness
from bench.loops import Operation, rotated
from bench.progress import progress
from bench.stats import percentile, ratio, summary_ms
from bench.targets import STORE_LABELS, StoreMode, Target, flood_targets
from bench.variants import Variants, serving_variants

REPO: Final = Path(__file__).resolve().parents[2]
CONDITIONS: Final = ("quiet", "flooded")
_LIVE_GAUGE: Final = re.compile(r"^voicecore_live_sessions (\S+)$", re.MULTILINE)
# After the flood is switched on, before the first timed request: it is at its rate by then.
_FLOOD_SETTLE_SECONDS: Final = 0.3

Samples = dict[str, dict[str, dict[str, list[float]]]]  # service -> operation -> condition -> seconds
Failures = dict[str, dict[str, dict[str, int]]]  # service -> operation -> condition -> answers not 200
Cpu = dict[str, dict[str, dict[str, float]]]  # service -> condition -> process -> CPU seconds


async def live_sessions_gauge(user: ApiUser) -> float:
    """The service's ``voicecore_live_sessions``, as a scrape reads it."""
    answer = await user.client.get("/metrics")
    found = _LIVE_GAUGE.search(answer.text) if answer.status_code == 200 else None
    if found is None:
        raise UnexpectedAnswer(f"{user.name}: GET /metrics gave {answer.status_code}, no live-session gauge")
    return float(found.group(1))


def _operations(user: ApiUser, room: str) -> dict[str, Operation]:
    async def status() -> None:
        await user.status(room)

    return {"status": status, "list": user.list_sessions}


async def _timed(operation: Operation) -> tuple[float, bool]:
    """Seconds the operation took, and whether it was answered 200 (a failure took its time too)."""
    started = time.perf_counter()
    try:
        await operation()
    except UnexpectedAnswer:
        return time.perf_counter() - started, False
    return time.perf_counter() - started, True


async def _rounds(
    h: Harness, variants: Variants, rooms: Mapping[str, list[str]], flood: FloodProcess
) -> tuple[Samples, Failures, Cpu, dict[str, list[dict[str, Any]]]]:
    plan = h.plan
    names = list(rooms)
    operations = {name: _operations(variants.users[name], rooms[name][0]) for name in names}
    samples: Samples = {name: {op: {c: [] for c in CONDITIONS} for op in operations[name]} for name in names}
    failures: Failures = {n: {op: dict.fromkeys(CONDITIONS, 0) for op in operations[n]} for n in names}
    floods: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    meter = CpuMeter(variants.meter.pids | {"flood": flood.process.pid})
    cpu: Cpu = {n: {c: dict.fromkeys(meter.pids, 0.0) for c in CONDITIONS} for n in names}
    for round_index in range(plan.warmup_rounds + plan.flood_rounds):
        measured = round_index >= plan.warmup_rounds
        for name in rotated(names, round_index):
            metrics_url = f"{variants.users[name].client.base_url}/metrics"
            for condition in CONDITIONS if round_index % 2 == 0 else reversed(CONDITIONS):
                before = meter.snapshot()
                if condition == "flooded":
                    await flood.on(metrics_url)
                    await asyncio.sleep(_FLOOD_SETTLE_SECONDS)
                for operation_name, operation in operations[name].items():
                    for _ in range(plan.flood_block):
                        seconds, answered = await _timed(operation)
                        if measured:
                            samples[name][operation_name][condition].append(seconds)
                            failures[name][operation_name][condition] += not answered
                if condition == "flooded":
                    report = await flood.off()
                    if measured:
                        floods[name].append(report)
                if measured:
                    for process, used in meter.since(before).items():
                        cpu[name][condition][process] += used
    return samples, failures, cpu, floods


def _scrapes(
    name: str, reports: list[dict[str, Any]], cpu: Mapping[str, Mapping[str, float]]
) -> dict[str, Any]:
    """The flood as one service saw it, over every measured flooded block.

    A flooded block serves the same user requests as a quiet one, plus the scrapes: the
    CPU each process spent beyond the quiet blocks', per scrape, is what a scrape costs it.
    """
    requests = sum(r["requests"] for r in reports)
    seconds = sum(r["seconds"] for r in reports)
    extra = {
        process: round((cpu["flooded"][process] - cpu["quiet"][process]) * 1000 / requests, 3)
        for process in (name, "redis-server", "flood")
        if requests
    }
    return {
        "scrapes": requests,
        "achieved_per_second": round(requests / seconds, 1) if seconds else 0.0,
        "failures": sum(r["failures"] for r in reports),
        "block_p50_ms": [r.get("p50_ms") for r in reports],
        "cpu_ms_per_scrape": extra,
    }


def _summary(targets: Mapping[StoreMode, Target], samples: Samples, failures: Failures) -> dict[str, Any]:
    sides: dict[str, Any] = {}
    ratios: dict[str, float] = {}
    for mode, target in targets.items():
        side: dict[str, Any] = {}
        for operation, by_condition in samples[target.name].items():
            figures: dict[str, Any] = {c: summary_ms(by_condition[c]) for c in CONDITIONS}
            figures["not_200"] = failures[target.name][operation]
            figures["ratio_p50"] = ratio(
                percentile(by_condition["flooded"], 50), percentile(by_condition["quiet"], 50)
            )
            side[operation] = figures
            ratios[f"{operation}:{mode}"] = figures["ratio_p50"]
        sides[target.name] = side
    return {"sides": sides, "ratio_p50": ratios}


async def metrics_flood_phase(h: Harness) -> dict[str, Any]:
    plan = h.plan
    targets = flood_targets(REPO)
    progress(
        f"/metrics flood: {FLOOD_LIVE_SESSIONS:,} filler records per store, "
        f"{FLOOD_SCRAPES_PER_SECOND} scrapes/s, {plan.flood_rounds} rounds x {plan.flood_block} per "
        "operation, service and condition"
    )
    started = time.perf_counter()
    async with (
        serving_variants(h, list(targets.values())) as variants,
        flooding(FLOOD_SCRAPES_PER_SECOND) as flood,
    ):
        progress(f"/metrics flood: services filled and ready in {time.perf_counter() - started:.1f}s")
        rooms: dict[str, list[str]] = {}
        for target in targets.values():
            user = variants.users[target.name]
            rooms[target.name] = [await user.create() for _ in range(plan.owned_rooms)]
            h.rooms.made.update(rooms[target.name])
        gauges = {t.name: await live_sessions_gauge(variants.users[t.name]) for t in targets.values()}
        for name, value in gauges.items():
            if value < FLOOD_LIVE_SESSIONS:
                raise UnexpectedAnswer(f"{name}: {value:g} live sessions, fewer than filled")
        pids = variants.meter.pids | {"bench": os.getpid(), "flood": flood.process.pid}
        load = MachineLoad(CpuMeter(pids))
        samples, failures, cpu, floods = await _rounds(h, variants, rooms, flood)
        machine_load = load.shares()
    return {
        "targets": {t.name: t.description for t in targets.values()},
        "stores": {t.name: STORE_LABELS[mode] for mode, t in targets.items()},
        "filler_sessions": FLOOD_LIVE_SESSIONS,
        "scrapes_per_second_asked": FLOOD_SCRAPES_PER_SECOND,
        "live_sessions_gauge": gauges,
        **_summary(targets, samples, failures),
        "flood": {name: _scrapes(name, reports, cpu[name]) for name, reports in floods.items()},
        "machine_load": machine_load,
    }
