"""Issue 20's enforcement at scale: one bounds pass's cost, and the lag from a deadline to its room deleted.

One scenario is N live sessions over some users, in a session store, a SQLite
journal and a room gateway, all built through the composition root
(``VoiceCoreContainer.from_settings``, the gateway replaced), with deadlines that
fall due at a planned moment (together, or spread evenly over a few seconds). The
real ``SessionBounds`` runs its own loop (``replica_work.every`` at
``PASS_SECONDS``, as ``run_every`` does) in this process; the sessions are put
straight into the store, the journal and the gateway first (no HTTP), shaped as a
start shapes them. Measured:

- every pass: its wall time, the CPU it took (this process, and redis-server and
  livekit-server when they serve it), how many sessions it ended; the passes before
  the first deadline are the idle ones (N live, none due);
- every session: from its ``ends_at`` to the moment DeleteRoom returned for its room
  (``StampedGateway``), the lag.

Two reasons a session falls due, each taking its own path through a pass:
``max_duration`` (created an hour before its deadline, the default cap: each due
session is ended on its own) and ``usage_exhausted`` (a user's sessions share one
allowance that runs out at their deadline: the first due one has the user's usage
counted again, journal and store, and all of them ended).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bench.cpu import cpu_seconds
from bench.enforcement_scenario import (
    FILL_ATTEMPTS,
    FILL_SECONDS_PER_SESSION,
    GIVE_UP_SECONDS,
    Scenario,
    Servers,
)
from bench.enforcement_world import (
    SessionPlan,
    World,
    ended_in_journal,
    fill,
    opened_world,
    service_logging,
)
from bench.progress import progress
from bench.stats import percentile
from voicecore.core.domain import utc_now
from voicecore.core.enforcer import PASS_SECONDS
from voicecore.core.replica_work import every


@dataclass
class Pass:
    started_at: datetime
    seconds: float
    cpu: dict[str, float]  # seconds of CPU per process during the pass
    ended: int


def _cpu_now(pids: Mapping[str, int]) -> dict[str, float]:
    return {"bench": time.process_time()} | {name: cpu_seconds(pid) for name, pid in pids.items()}


async def _enforced(world: World, plan: SessionPlan, servers: Servers) -> tuple[list[Pass], int]:
    """The bounds' own loop until a pass has ended every session (or it gives up): passes, misses."""
    bounds = world.container.session_bounds()
    passes: list[Pass] = []
    wanted = len(plan.due)
    done = asyncio.Event()

    async def timed_pass() -> None:
        started_at, before, clock = utc_now(), _cpu_now(servers.pids), time.perf_counter()
        ended = await bounds.run_logged()
        seconds = time.perf_counter() - clock
        after = _cpu_now(servers.pids)
        passes.append(Pass(started_at, seconds, {k: after[k] - before[k] for k in before}, len(ended or [])))
        if len(world.gateway.deleted) >= wanted:
            done.set()  # after the pass: its journal writes are part of its cost

    last_due = max(r.ends_at for r in plan.due if r.ends_at is not None)
    patience = (last_due - utc_now()).total_seconds() + GIVE_UP_SECONDS
    loop = asyncio.create_task(every(PASS_SECONDS, timed_pass), name="bench-bounds")
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), patience)
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    return passes, wanted - len(world.gateway.deleted)


def _ms(seconds: Sequence[float]) -> dict[str, float | int]:
    if not seconds:
        return {"n": 0}
    return {
        "n": len(seconds),
        "p50_ms": round(percentile(seconds, 50) * 1000, 2),
        "max_ms": round(max(seconds) * 1000, 2),
    }


def _lag_figures(lags: Sequence[float]) -> dict[str, Any]:
    if not lags:
        return {"n": 0}
    return {
        "n": len(lags),
        "p50_s": round(percentile(lags, 50), 3),
        "p99_s": round(percentile(lags, 99), 3),
        "max_s": round(max(lags), 3),
        "min_s": round(min(lags), 3),
    }


@dataclass
class Outcome:
    scenario: Scenario
    figures: dict[str, Any]
    lags: list[float]  # seconds, one per session ended: for the plot


@dataclass
class _Measured:
    plan: SessionPlan
    passes: list[Pass]
    lags: list[float]
    missed: int
    ended: dict[str, int]  # the journal's ended records, by reason
    fill_seconds: float
    attempts: int


async def run_scenario(scenario: Scenario, servers: Servers, run: str, made: set[str]) -> Outcome:
    """One scenario, measured; ``made`` collects the room names it creates (LiveKit's to delete later)."""
    per_session = FILL_SECONDS_PER_SESSION[scenario.store]
    if scenario.gateway == "livekit":
        per_session += FILL_SECONDS_PER_SESSION["livekit"]
    budget = 1.0 + scenario.sessions * per_session
    for attempt in range(1, FILL_ATTEMPTS + 1):
        name = f"{run}a{attempt}"
        async with opened_world(scenario, servers, name) as world:
            filled_at = time.perf_counter()
            plan = await fill(world, scenario, name, budget, made)
            fill_seconds = time.perf_counter() - filled_at
            if plan is None:
                progress(f"  {scenario.label}: the fill overran its {budget:.1f} s, again with twice that")
                budget *= 2
                continue
            with service_logging(servers.log_path):
                passes, missed = await _enforced(world, plan, servers)
            ended = await asyncio.to_thread(ended_in_journal, world.journal_path, name)
            deleted = world.gateway.deleted
        lags = [
            (deleted[r.room_name] - r.ends_at).total_seconds()
            for r in plan.due
            if r.ends_at is not None and r.room_name in deleted
        ]
        measured = _Measured(plan, passes, lags, missed, ended, fill_seconds, attempt)
        return Outcome(scenario, _figures(scenario, measured), lags)
    raise RuntimeError(f"{scenario.label}: the fill overran its budget {FILL_ATTEMPTS} times")


def _figures(scenario: Scenario, m: _Measured) -> dict[str, Any]:
    idle = [p for p in m.passes if p.started_at < m.plan.first_due and p.ended == 0]
    working = [p for p in m.passes if p.ended]
    processes = working[0].cpu if working else {}
    cpu_total = {name: sum(p.cpu[name] for p in working) for name in processes}
    ended_total = sum(p.ended for p in working)
    idle_cpu = [sum(p.cpu.values()) for p in idle]
    return {
        "label": scenario.label,
        "store": scenario.store,
        "gateway": scenario.gateway,
        "sessions": scenario.sessions,
        "users": scenario.users,
        "reason": scenario.reason,
        "due": scenario.falling_due,
        "spread_seconds": scenario.spread_seconds,
        "fill_seconds": round(m.fill_seconds, 2),
        "fill_attempts": m.attempts,
        # Passes with every session live and none due: what a pass costs at this many live.
        "idle_pass": _ms([p.seconds for p in idle])
        | {"cpu_ms_p50": round(percentile(idle_cpu, 50) * 1000, 2) if idle else None},
        # Passes that ended sessions: wall time, how many each ended, CPU per session ended.
        "working_passes": len(working),
        "pass": _ms([p.seconds for p in working]) | {"ended_max": max((p.ended for p in working), default=0)},
        "cpu_ms_per_session_ended": {
            name: round(used * 1000 / ended_total, 3) for name, used in cpu_total.items()
        }
        if ended_total
        else {},
        "lag": _lag_figures(m.lags),
        "lag_percentiles_s": {
            str(q): round(percentile(m.lags, q), 3) for q in (10, 25, 50, 75, 90, 95, 99, 100)
        }
        if m.lags
        else {},
        "missed": m.missed,
        "ended_in_journal": m.ended,
        "all_ended_as_expected": m.missed == 0 and m.ended == {scenario.reason: scenario.falling_due},
    }
