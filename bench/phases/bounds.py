"""Issue 20: what bounds in time cost. Two phases.

``bounds_create_phase``: create p50 with an allowance configured (so large it never
runs out) over none, on each store. The four services are variants served for
this phase only, each with a SQLite journal of its own (the allowance reads it);
they are measured in one interleaved latency phase (the plan's rounds, ABAB,
rotating). Each round's creates go to as many users as the round has samples, one
each, so every create sees a user with no other live session (a user's live
sessions are what the allowance counts and tightens); every session is ended by
its owner between rounds, untimed.

``bounds_enforcement_phase``: the cost of a bounds pass and the lag from a deadline
to its room deleted, at 1,000 and 10,000 live sessions over 1,000 users, on each
store (bench.enforcement and its world have how), plotted.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from matplotlib.figure import Figure

from bench import goals
from bench.clients import ApiUser
from bench.cpu import CpuMeter
from bench.enforcement import Outcome, run_scenario
from bench.enforcement_scenario import Scenario, Servers
from bench.harness import SETTLE_SECONDS, Harness
from bench.loops import Operation, interleaved_latency
from bench.progress import progress
from bench.stats import latency_block, percentile, ratio
from bench.targets import STORE_LABELS, Target, bounds_targets
from bench.variants import serving_variants

# The figure 10,000 live over 1,000 users is the issue's; so is 1,000 (there: one session each).
USERS: Final = 1_000


def enforcement_scenarios(mode: str) -> list[Scenario]:
    """What each plan measures. Full: every session due at one moment, at 1,000 and 10,000 live (the
    worst case: the lag then is how long ending them all takes), both reasons at 1,000, the real
    LiveKit at 1,000, and 1,000 of 10,000 live falling due over 10 s (100 a second)."""
    if mode == "quick":
        return [
            Scenario(store, sessions, 100, "max_duration")
            for sessions in (100, 1_000)
            for store in STORE_LABELS
        ]
    scenarios: list[Scenario] = []
    for store in STORE_LABELS:
        scenarios += [
            Scenario(store, 1_000, USERS, "max_duration"),
            Scenario(store, 1_000, USERS, "usage_exhausted"),
            Scenario(store, 1_000, USERS, "max_duration", gateway="livekit"),
            Scenario(store, goals.BOUNDS_LAG_SESSIONS, USERS, "max_duration", spread_seconds=10, due=1_000),
            Scenario(store, goals.BOUNDS_LAG_SESSIONS, USERS, "max_duration"),
        ]
    return scenarios


async def bounds_create_phase(h: Harness) -> dict[str, Any]:
    plan = h.plan
    with tempfile.TemporaryDirectory(prefix="bench-bounds-") as journals:
        pairs = bounds_targets(Path(journals))
        targets = [t for pair in pairs.values() for t in pair]
        progress(
            f"bounds: create latency ({plan.latency_rounds} rounds x {plan.latency_block}), "
            "an allowance configured vs none, each store"
        )
        async with serving_variants(h, targets) as variants:
            base_urls = {n: str(u.client.base_url) for n, u in variants.users.items()}
            cpu: dict[str, dict[str, float]] = {}
            samples = await _sample(h, targets, base_urls, variants.meter, cpu)
    latency = latency_block(samples, None, cpu)
    per_create = latency["cpu_ms_per_request"]
    out: dict[str, Any] = {"targets": {t.name: t.description for t in targets}, "stores": {}}
    for mode, (on, off) in pairs.items():
        out["stores"][mode] = {
            "on": on.name,
            "off": off.name,
            "create_p50_ms": {"on": latency[on.name]["p50_ms"], "off": latency[off.name]["p50_ms"]},
            "create_p95_ms": {"on": latency[on.name]["p95_ms"], "off": latency[off.name]["p95_ms"]},
            "create_p50_ratio": ratio(percentile(samples[on.name], 50), percentile(samples[off.name], 50)),
            # CPU time per create, one at a time: the service's own, and redis-server's.
            "service_cpu_ms_per_create": {
                "on": per_create[on.name][on.name],
                "off": per_create[off.name][off.name],
            },
            "redis_cpu_ms_per_create": {
                "on": per_create[on.name]["redis-server"],
                "off": per_create[off.name]["redis-server"],
            },
        }
    out["latency"] = latency
    return out


async def _sample(
    h: Harness,
    targets: Sequence[Target],
    base_urls: Mapping[str, str],
    meter: CpuMeter,
    cpu: dict[str, dict[str, float]],
) -> dict[str, list[float]]:
    """Interleaved create latency; each sample of a round by a user of its own, all ended between rounds."""
    made: dict[str, ApiUser] = {}  # room -> its owner

    def creates(users: list[ApiUser]) -> Operation:
        turn = 0

        async def op() -> None:
            nonlocal turn
            user = users[turn % len(users)]
            turn += 1
            room = await user.create()
            made[room] = user
            h.rooms.made.add(room)  # deleted at the end whatever happens

        return op

    async def end_all() -> None:
        for room, user in list(made.items()):
            await user.end(room)
            h.rooms.made.discard(room)
            del made[room]
        await asyncio.sleep(SETTLE_SECONDS)

    operations: dict[str, Operation] = {}
    for target in targets:
        users = [
            await h.user(target.name, base_urls[target.name], f"{target.user_id}-{i}")
            for i in range(h.plan.latency_block)
        ]
        operations[target.name] = creates(users)
    plan = h.plan
    return await interleaved_latency(
        operations,
        rounds=plan.latency_rounds,
        block=plan.latency_block,
        warmup_rounds=plan.warmup_rounds,
        between_rounds=end_all,
        meter=meter,  # the variants' own processes, beside LiveKit's and Redis's
        cpu=cpu,
    )


async def bounds_enforcement_phase(h: Harness) -> dict[str, Any]:
    scenarios = enforcement_scenarios(h.plan.mode)
    progress(f"bounds: enforcement, {len(scenarios)} scenarios (bench.enforcement)")
    redis_url = h.settings(Target("bounds_enforcer", "", store="redis"), h.livekit)["SESSION_STORE_URL"]
    pids = {name: pid for name, pid in h.meter.pids.items() if name in ("livekit-server", "redis-server")}
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="bench-enforcement-") as scratch:
        servers = Servers(
            h.livekit, h.auth_secret, redis_url, pids, Path(scratch), h.log_dir / "bounds-enforcer.log"
        )
        for number, scenario in enumerate(scenarios, 1):
            progress(f"  {number}/{len(scenarios)}: {scenario.label}")
            made: set[str] = set()
            try:
                outcomes.append(await run_scenario(scenario, servers, f"r{number}", made))
            finally:
                h.rooms.made |= made
                if scenario.gateway == "livekit":
                    await h.rooms.delete(made)
            lag = outcomes[-1].figures["lag"]
            progress(f"     lag p50 {lag['p50_s']:.2f} s, max {lag['max_s']:.2f} s")
    return {
        "scenarios": {o.scenario.key: o.figures for o in outcomes},
        "plot": str(enforcement_plot(h.plot_path("enforcement"), outcomes)),
    }


def _short(scenario: Scenario) -> str:
    gateway = ", LiveKit" if scenario.gateway == "livekit" else ""
    return f"{scenario.store} {scenario.sessions:,} live, {scenario.shape}{gateway}, {scenario.reason}"


def enforcement_plot(path: Path, outcomes: Sequence[Outcome]) -> Path:
    """Left: each run's lag distribution (ECDF). Right: a working pass's CPU per session ended, per run."""
    figure = Figure(figsize=(13.0, 6.5), layout="constrained")
    lags, cost = figure.subplots(1, 2, width_ratios=(3, 2))
    for outcome in outcomes:
        ordered = sorted(max(lag, 0.001) for lag in outcome.lags)  # a log scale: a millisecond at least
        if ordered:
            shares = [(i + 1) / len(ordered) for i in range(len(ordered))]
            dashes = "--" if outcome.scenario.store == "redis" else "-"
            lags.step(ordered, shares, where="post", linestyle=dashes, label=_short(outcome.scenario))
    lags.axvline(goals.BOUNDS_LAG_MAX.limit, color="grey", linestyle=":", linewidth=1.5)
    lags.set_xscale("log")
    lags.set(
        title="deadline to room deleted",
        xlabel="lag, s, log scale (dotted: the goal; Redis store dashed)",
        ylabel="share of sessions at or below",
        ylim=(0, 1),
    )
    lags.grid(alpha=0.3)
    lags.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2)
    names = [_short(o.scenario) for o in outcomes]
    per_session = [sum(o.figures["cpu_ms_per_session_ended"].values()) for o in outcomes]
    cost.barh(range(len(outcomes)), per_session)
    cost.set_yticks(range(len(outcomes)), names, fontsize="x-small")
    cost.invert_yaxis()
    cost.set(title="CPU per session ended (all processes)", xlabel="ms")
    cost.grid(alpha=0.3, axis="x")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=120)
    return path


def table_lines(results: Mapping[str, Any]) -> list[str]:
    """The printed table's lines for both phases (whichever ran)."""
    lines: list[str] = []
    if "bounds_create" in results:
        lines.append("bounds: create p50, an allowance configured over none")
        for mode, pair in results["bounds_create"]["stores"].items():
            p50, times, cpu = (
                pair["create_p50_ms"],
                pair["create_p50_ratio"],
                pair["service_cpu_ms_per_create"],
            )
            lines.append(
                f"  {STORE_LABELS[mode]:26}{p50['on']:8.2f} over {p50['off']:.2f} ms = {times:.2f}x"
                f"   (service CPU per create {cpu['on']:.2f} over {cpu['off']:.2f} ms)"
            )
    if "bounds_enforcement" in results:
        lines.append(
            "bounds: enforcement (lag s: p50 p99 max; a working pass: p50 ms, CPU ms per session ended)"
        )
        for figures in results["bounds_enforcement"]["scenarios"].values():
            lag, work = figures["lag"], figures["pass"]
            cpu = sum(figures["cpu_ms_per_session_ended"].values())
            ok = "" if figures["all_ended_as_expected"] else "  NOT ALL ENDED AS EXPECTED"
            lines.append(
                f"  {figures['label'][:78]:78} {lag['p50_s']:7.2f} {lag['p99_s']:7.2f} {lag['max_s']:7.2f}"
                f"  {work.get('p50_ms', 0):9.1f} {cpu:6.2f}{ok}"
            )
    return lines
