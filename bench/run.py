"""``python -m bench.run [--quick] [--profile] [--compare LABEL=REV[+asyncio]] [--target SPEC]...``.

voicecore's HTTP API vs direct livekit-api. Starts its own LiveKit server,
redis-server and PostgreSQL server on loopback, then the targets (bench.targets) as real uvicorn servers
in subprocesses (``python -m voicecore_http``, and ``bench.floor_app``), and
measures each phase (bench.phases) interleaved against a warm ``LiveKitAPI`` client
doing the work by hand. Progress goes to stderr, a table to stdout, every figure to
bench-results/latest.json and the plots beside it. Every room the benchmark creates
is deleted before it ends. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shlex
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from bench.compare import compare_target
from bench.cpu import CpuMeter, MachineLoad
from bench.harness import Harness, Phase, livekit_client
from bench.journals import PostgresDatabases, postgres_databases
from bench.machine import machine_info
from bench.phases.app_webhooks import app_webhooks_phase
from bench.phases.bounds import bounds_create_phase, bounds_enforcement_phase
from bench.phases.calls import calls_phase
from bench.phases.create import create_phase
from bench.phases.edge_limits import edge_limits_phase
from bench.phases.floor import floor_phase
from bench.phases.guardrails import guardrails_phase
from bench.phases.history import history_phase
from bench.phases.journal import journal_phase
from bench.phases.listing import list_phase
from bench.phases.metrics_flood import metrics_flood_phase
from bench.phases.own_sessions import own_sessions_phase
from bench.phases.status import status_phase
from bench.phases.throughput import throughput_phase
from bench.phases.time_to_agent import time_to_agent_phase
from bench.plan import FULL, QUICK, Plan
from bench.profile import profile
from bench.progress import progress
from bench.service import ServiceProcess, running, target_process
from bench.stores import RedisDatabases, redis_databases
from bench.table import table
from bench.targets import (
    REFERENCES,
    LiveKitAccess,
    Settings,
    Target,
    counted_targets,
    parse_target,
    service_environment,
    standard_targets,
)
from bench.verdicts import verdicts
from voicecore.testing.livekit_server import running_livekit_server

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench-results"

# The phases on the shared LiveKit and redis-server, in this order: each one's block goes into
# the results under its key. Time to agent runs after them, on servers of its own.
PHASES: Final[Mapping[str, Phase]] = {
    "create": create_phase,
    "status": status_phase,
    "floor": floor_phase,
    "list": list_phase,
    "throughput": throughput_phase,
    "own_sessions": own_sessions_phase,
    "guardrails": guardrails_phase,
    "edge_limits": edge_limits_phase,
    "journal": journal_phase,
    "history": history_phase,
    "app_webhooks": app_webhooks_phase,
    "livekit_calls": calls_phase,
    "bounds_create": bounds_create_phase,
    "bounds_enforcement": bounds_enforcement_phase,
    "metrics_flood": metrics_flood_phase,
}
TIME_TO_AGENT: Final = "time_to_agent"


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description="voicecore HTTP API vs direct livekit-api"
    )
    parser.add_argument("--quick", action="store_true", help="fewer samples: a run of a minute or two")
    parser.add_argument(
        "--profile", action="store_true", help="profile the service in-process with pyinstrument"
    )
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="LABEL=REV[+asyncio]",
        help="also serve voicecore as of git revision REV as target api_LABEL (LOG_LEVEL=INFO), to measure "
        "what a change bought in the same run; +asyncio hides uvloop and httptools from it",
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="LABEL[+redis]:VAR=VALUE,...",
        help="also serve this voicecore as target api_LABEL with these settings (on the Redis store "
        "with +redis), measured in every phase beside the others; VAR= restores a default",
    )
    parser.add_argument(
        "--phase",
        action="append",
        default=[],
        choices=[*PHASES, TIME_TO_AGENT],
        help="run only this phase (repeatable); the table and the goals then cover what ran",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json", help="where the JSON goes")
    return parser.parse_args(argv)


def _settings(auth_secret: str, redis: RedisDatabases, postgres: PostgresDatabases) -> Settings:
    """Each target's settings; a target on the Redis store, or with its journal on PostgreSQL,
    gets a database of its own."""

    def settings(target: Target, livekit: LiveKitAccess) -> Mapping[str, str]:
        store_url = redis.allocate() if target.store == "redis" else None
        journal_url = postgres.allocate(target.name) if target.journal == "postgres" else None
        return service_environment(target, livekit, auth_secret, store_url, journal_url)

    return settings


async def _measure(
    plan: Plan,
    livekit: LiveKitAccess,
    served: Sequence[tuple[Target, ServiceProcess]],
    *,
    auth_secret: str,
    meter: CpuMeter,
    settings: Settings,
    out: Path,
    phases: Sequence[str],
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        lk = await stack.enter_async_context(livekit_client(livekit))
        h = Harness(plan, livekit, auth_secret, lk, meter, stack, settings, out)
        for target, service in served:
            await h.add_service(target.name, service.base_url, target.user_id)
        try:
            for key in phases:
                results[key] = await PHASES[key](h)
        finally:
            results["cleanup"] = await h.rooms.delete_leftovers()
    return results


def _journal_settings(postgres: PostgresDatabases) -> dict[str, Any]:
    """What a journal's commit cost in this run: the settings of each database."""
    return {
        "sqlite": (
            "the default file in each service's own working directory; WAL, synchronous=NORMAL "
            "(the journal's settings): a commit is not synced to disk, a checkpoint is"
        ),
        "postgres_settings": postgres.settings(),
        "postgres": (
            "one PostgreSQL 15 server per run (voicecore.testing.postgres_server), a database of its own "
            "per target; fsync, synchronous_commit and full_page_writes as in postgres_settings"
        ),
    }


def _pid(server: object) -> int:
    process = getattr(server, "_process", None)  # the test servers keep their Popen private
    if process is None:
        raise RuntimeError(f"{server!r} is not running")
    pid: int = process.pid
    return pid


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    plan = QUICK if args.quick else FULL
    chosen = args.phase or [*PHASES, TIME_TO_AGENT]
    command = shlex.join(["python", "-m", "bench.run", *(sys.argv[1:] if argv is None else argv)])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    auth_secret = secrets.token_urlsafe(32)
    started_at = datetime.now(UTC)
    with (
        running_livekit_server() as server,
        redis_databases() as redis,
        postgres_databases() as postgres,
        tempfile.TemporaryDirectory(prefix="bench-") as scratch,
    ):
        livekit = LiveKitAccess(server.url, server.api_key, server.api_secret)
        progress(
            f"livekit-server up at {server.url}, redis-server at 127.0.0.1:{redis.server.port}, "
            f"postgres at 127.0.0.1:{postgres.server.port}"
        )
        if args.profile:
            return profile(plan, livekit, auth_secret, RESULTS, Path(scratch))
        targets = standard_targets(REPO)
        targets += [compare_target(spec, REPO, Path(scratch)) for spec in args.compare]
        targets += [parse_target(spec) for spec in args.target]
        settings = _settings(auth_secret, redis, postgres)
        redis.start_counting()
        served = [(t, target_process(t, settings(t, livekit), args.out.parent)) for t in targets]
        services = [service for _, service in served]
        info = machine_info(server.binary, REPO)
        with running(services):
            progress("services ready: " + ", ".join(f"{s.name} {s.base_url}" for s in services))
            pids = {"bench": os.getpid(), "livekit-server": _pid(server), "redis-server": _pid(redis.server)}
            pids |= {s.name: s.pid for s in services if s.pid}
            meter = CpuMeter(pids)
            load = MachineLoad(meter)
            figures = asyncio.run(
                _measure(
                    plan,
                    livekit,
                    served,
                    auth_secret=auth_secret,
                    meter=meter,
                    settings=settings,
                    out=args.out,
                    phases=[key for key in PHASES if key in chosen],
                )
            )
            figures["machine_load"] = load.shares()
            # None of it when no service used the Redis store: its figures are the in-process path's.
            figures["redis"] = {"commands_from_services": redis.commands_from_services()}
            figures["journals"] = _journal_settings(postgres)
            progress(
                f"CPU share of other processes during the measurement: "
                f"{figures['machine_load']['other_processes_cpu_share']:.0%}"
            )

    # Its own two servers and workers: agent jobs must not share the CPU with the phases above.
    if TIME_TO_AGENT in chosen:
        figures[TIME_TO_AGENT] = time_to_agent_phase(
            plan, auth_secret, args.out.parent, args.out.with_name(f"{args.out.stem}-time-to-agent.png")
        )

    results: dict[str, Any] = {
        "benchmark": "voicecore HTTP API vs direct livekit-api",
        "mode": plan.mode,
        "command": command,
        "started_at": started_at.isoformat(),
        "duration_seconds": round((datetime.now(UTC) - started_at).total_seconds(), 1),
        "machine": info,
        "plan": asdict(plan),
        "targets": {t.name: t.description for t in [*targets, *counted_targets()]} | dict(REFERENCES),
        "client": (
            "httpx.AsyncClient with keep-alive in the benchmark process: one per service for the "
            "one-at-a-time phases, one per worker (each one connection) for the concurrent phase"
        ),
        **figures,
    }
    results["goals"] = verdicts(results)
    results["plots"] = {key: block["plot"] for key, block in figures.items() if "plot" in block}
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    progress(f"figures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
