"""``python -m bench.run [--quick] [--profile] [--compare LABEL=REV[+asyncio]]...``.

voicecore's HTTP API vs direct livekit-api.

Starts its own LiveKit server (voicecore.testing.livekit_server) and the service as a real
uvicorn server in subprocesses (``python -m voicecore_http``), one at the default
LOG_LEVEL=INFO and one at WARNING, plus ``bench.floor_app`` (the same work as the
baseline behind the thinnest Python HTTP service); then measures, interleaved,
each against a warm ``LiveKitAPI`` client doing the work by hand. Progress goes
to stderr, a table to stdout, every figure to bench-results/latest.json. Every
room the benchmark creates is deleted before it ends. See docs/benchmarks.md.
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
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from livekit import api

from bench.clients import ApiUser, bearer, http_client
from bench.cpu import CpuMeter, machine_cpu_seconds
from bench.direct import DirectBackend, create_rooms, delete_rooms, metadata_for, room_name_for
from bench.machine import machine_info
from bench.phases import Burst, Operation, SlotOperation, burst, interleaved_latency
from bench.service import InProcessService, ServiceProcess, checkout
from bench.stats import percentile, ratio, summary_ms
from voicecore.testing.livekit_server import LocalLiveKitServer, running_livekit_server

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench-results"
API_USER = "bench-api"
DIRECT_USER = "bench-direct"
PRIMARY = "api"  # the service at the default LOG_LEVEL=INFO: the goals are judged on it
FLOOR = "floor_healthz"  # GET /healthz of the primary service: the HTTP round trip alone
PROXY = "floor_proxy"  # the direct baseline's work behind the thinnest Python HTTP service (bench.floor_app)

GOALS = {"create_ratio_max": 1.3, "status_ratio_max": 1.3, "throughput_ratio_min": 0.75}


@dataclass(frozen=True)
class Plan:
    mode: str
    latency_rounds: int  # per phase; each round is one block per side
    latency_block: int  # back-to-back samples per side per round
    warmup_rounds: int
    list_rounds: int
    list_block: int
    list_levels: tuple[int, ...]
    owned_rooms: int  # the listing user's own sessions
    throughput_count: int  # requests per side, over throughput_rounds bursts
    throughput_rounds: int
    in_flight: int
    warmup_burst: int


FULL = Plan("full", 100, 20, 2, 30, 5, (0, 500, 2000), 2, 1200, 6, 32, 64)
QUICK = Plan("quick", 10, 10, 1, 6, 3, (0, 500, 2000), 2, 200, 2, 32, 32)

_T0 = time.monotonic()


def progress(message: str) -> None:
    print(f"[bench +{time.monotonic() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


class Service(Protocol):
    name: str

    @property
    def base_url(self) -> str: ...
    def start(self) -> None: ...
    def wait_ready(self, timeout: float = 30.0) -> None: ...
    def stop(self) -> None: ...


@contextlib.contextmanager
def running(services: Sequence[Service]) -> Iterator[None]:
    try:
        for service in services:
            service.start()
        for service in services:
            service.wait_ready()
        yield
    finally:
        for service in services:
            service.stop()


# After deleting rooms, LiveKit goes on closing them for a moment: untimed, let it.
SETTLE_SECONDS = 0.25


class Rooms:
    """Every room name the benchmark made, so it can delete them all."""

    def __init__(self, lk: api.LiveKitAPI) -> None:
        self._lk = lk
        self.made: set[str] = set()
        self.deleted = 0

    async def delete(self, names: set[str] | None = None) -> None:
        doomed = set(self.made) if names is None else names
        self.deleted += await delete_rooms(self._lk, doomed)
        self.made -= doomed

    async def delete_and_settle(self) -> None:
        await self.delete()
        await asyncio.sleep(SETTLE_SECONDS)


@contextlib.asynccontextmanager
async def livekit_client(server: LocalLiveKitServer) -> AsyncIterator[api.LiveKitAPI]:
    lk = api.LiveKitAPI(server.url, server.api_key, server.api_secret)
    try:
        yield lk
    finally:
        await lk.aclose()


def _latency_block(
    samples: dict[str, list[float]], baseline: str, cpu: dict[str, dict[str, float]] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {name: summary_ms(values) for name, values in samples.items()}
    base_p50 = percentile(samples[baseline], 50)
    base_p95 = percentile(samples[baseline], 95)
    compared = [name for name in samples if name not in (baseline, FLOOR) and not name.startswith("direct")]
    out["ratio_p50"] = {name: ratio(percentile(samples[name], 50), base_p50) for name in compared}
    out["ratio_p95"] = {name: ratio(percentile(samples[name], 95), base_p95) for name in compared}
    if cpu:
        # CPU time of each process per request, one request at a time (10 ms clock ticks, summed).
        out["cpu_ms_per_request"] = {
            name: {
                process: round(used * 1000 / len(samples[name]), 3) for process, used in by_process.items()
            }
            for name, by_process in cpu.items()
        }
    return out


async def measure(
    plan: Plan, server: LocalLiveKitServer, services: Sequence[Service], secret: str, meter: CpuMeter
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    token = bearer(API_USER, secret)
    async with contextlib.AsyncExitStack() as stack:
        lk = await stack.enter_async_context(livekit_client(server))
        direct = DirectBackend(lk, server.api_key, server.api_secret)
        users: dict[str, ApiUser] = {}
        pools: dict[str, list[ApiUser]] = {}  # one client per worker of the concurrent phase
        for service in services:
            client = await stack.enter_async_context(http_client(service.base_url, token))
            users[service.name] = ApiUser(service.name, client, API_USER)
            pools[service.name] = [
                ApiUser(
                    service.name,
                    await stack.enter_async_context(http_client(service.base_url, token)),
                    API_USER,
                )
                for _ in range(plan.in_flight)
            ]
        rooms = Rooms(lk)
        try:
            results["create"] = await _create_phase(plan, users, direct, rooms, meter)
            results["status"] = await _status_phase(plan, users, direct, rooms, meter)
            results["list"] = await _list_phase(plan, users, direct, rooms, lk)
            results["throughput"] = await _throughput_phase(plan, pools, direct, rooms, meter)
        finally:
            await rooms.delete()
            # Anything a crash mid-phase left behind, by the shapes this benchmark uses.
            leftovers = {
                r.name
                for r in (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
                if r.name.startswith(("fitness-voice-bench-", "fitness-voice-member-"))
            }
            if leftovers:
                rooms.deleted += await delete_rooms(lk, leftovers)
            remaining = len((await lk.room.list_rooms(api.ListRoomsRequest())).rooms)
            results["cleanup"] = {"rooms_deleted": rooms.deleted, "rooms_left_in_livekit": remaining}
            progress(f"clean-up: deleted {rooms.deleted} rooms, {remaining} left in LiveKit")
    return results


async def _create_phase(
    plan: Plan, users: dict[str, ApiUser], direct: DirectBackend, rooms: Rooms, meter: CpuMeter
) -> dict[str, Any]:
    progress(
        f"create latency: {plan.latency_rounds} rounds x {plan.latency_block} per side "
        f"({', '.join(users)}, direct), {plan.warmup_rounds} warm-up rounds discarded"
    )

    def api_create(user: ApiUser) -> Operation:
        async def op() -> None:
            rooms.made.add(await user.create())

        return op

    async def direct_create() -> None:
        rooms.made.add((await direct.create(DIRECT_USER))[0])

    operations = {name: api_create(user) for name, user in users.items()} | {"direct": direct_create}
    # The floor: the same client's round trip to the same server, doing nothing.
    operations[FLOOR] = users[PRIMARY].healthz
    cpu: dict[str, dict[str, float]] = {}
    samples = await interleaved_latency(
        operations,
        rounds=plan.latency_rounds,
        block=plan.latency_block,
        warmup_rounds=plan.warmup_rounds,
        between_rounds=rooms.delete_and_settle,
        meter=meter,
        cpu=cpu,
    )
    return _latency_block(samples, "direct", cpu)


async def _status_phase(
    plan: Plan, users: dict[str, ApiUser], direct: DirectBackend, rooms: Rooms, meter: CpuMeter
) -> dict[str, Any]:
    progress(f"status latency: {plan.latency_rounds} rounds x {plan.latency_block} per side")
    targets: dict[str, str] = {}
    for name, user in users.items():
        targets[name] = await user.create()
    targets["direct"] = (await direct.create(DIRECT_USER))[0]
    rooms.made.update(targets.values())

    def api_status(user: ApiUser, room: str) -> Operation:
        async def op() -> None:
            await user.status(room)

        return op

    async def direct_status() -> None:
        await direct.status(DIRECT_USER, targets["direct"])

    operations = {name: api_status(user, targets[name]) for name, user in users.items()}
    operations["direct"] = direct_status
    cpu: dict[str, dict[str, float]] = {}
    samples = await interleaved_latency(
        operations,
        rounds=plan.latency_rounds,
        block=plan.latency_block,
        warmup_rounds=plan.warmup_rounds,
        meter=meter,
        cpu=cpu,
    )
    await rooms.delete()
    return _latency_block(samples, "direct", cpu)


async def _list_phase(
    plan: Plan, users: dict[str, ApiUser], direct: DirectBackend, rooms: Rooms, lk: api.LiveKitAPI
) -> dict[str, Any]:
    primary = users[PRIMARY]
    owned_api = {await primary.create() for _ in range(plan.owned_rooms)}
    owned_direct = {(await direct.create(DIRECT_USER))[0] for _ in range(plan.owned_rooms)}
    rooms.made.update(owned_api | owned_direct)
    fillers: list[str] = []
    out: dict[str, Any] = {"owned_rooms_per_user": plan.owned_rooms, "levels": {}}

    async def api_list() -> None:
        await primary.list_sessions()

    async def direct_list() -> None:
        await direct.list_sessions(DIRECT_USER)

    async def direct_scan() -> None:
        await direct.scan()

    owned_direct_names = sorted(owned_direct)

    async def direct_indexed() -> None:
        await direct.list_indexed(DIRECT_USER, owned_direct_names)

    async def direct_lookup() -> None:
        await direct.lookup(owned_direct_names[0])

    for level in plan.list_levels:
        if level > len(fillers):
            started = time.perf_counter()
            batch = [
                (room_name_for(f"member-{i:05d}"), metadata_for(f"member-{i:05d}"))
                for i in range(len(fillers), level)
            ]
            fillers += await create_rooms(lk, batch, concurrency=16)
            rooms.made.update(fillers)
            progress(
                f"list: {len(batch)} other users' rooms created directly "
                f"in {time.perf_counter() - started:.1f}s"
            )
        # Sanity, untimed: each side sees exactly its own rooms among everyone's.
        if (
            set(await primary.list_sessions()) != owned_api
            or {n for n, _ in await direct.list_sessions(DIRECT_USER)} != owned_direct
        ):
            raise RuntimeError("list returned the wrong rooms")
        total = await direct.scan()
        progress(
            f"list latency with {level} other users' rooms ({total} in LiveKit): "
            f"{plan.list_rounds} rounds x {plan.list_block} per side"
        )
        samples = await interleaved_latency(
            {
                "api": api_list,
                "direct_list": direct_list,
                "direct_scan": direct_scan,
                "direct_indexed": direct_indexed,
                "direct_lookup": direct_lookup,
            },
            rounds=plan.list_rounds,
            block=plan.list_block,
            warmup_rounds=plan.warmup_rounds,
        )
        block = _latency_block(samples, "direct_scan")
        block["api_vs_direct_list_p50"] = ratio(
            percentile(samples["api"], 50), percentile(samples["direct_list"], 50)
        )
        block["rooms_in_livekit"] = total
        out["levels"][str(level)] = block
    started = time.perf_counter()
    await rooms.delete()
    progress(f"list: rooms deleted in {time.perf_counter() - started:.1f}s")
    return out


def _burst_summary(bursts: list[Burst], cpu: dict[str, float]) -> dict[str, Any]:
    requests = sum(b.requests for b in bursts)
    seconds = sum(b.seconds for b in bursts)
    return {
        "requests": requests,
        "seconds": round(seconds, 3),
        "rps": round(requests / seconds, 1),
        "rounds_rps": [round(b.rps, 1) for b in bursts],
        "latency_under_load": summary_ms([x for b in bursts for x in b.latencies]),
        # CPU time each process spent per request during the bursts (10 ms clock ticks).
        "cpu_ms_per_request": {name: round(used * 1000 / requests, 3) for name, used in cpu.items()},
    }


async def _throughput_phase(
    plan: Plan, pools: dict[str, list[ApiUser]], direct: DirectBackend, rooms: Rooms, meter: CpuMeter
) -> dict[str, Any]:
    per_round = plan.throughput_count // plan.throughput_rounds
    progress(
        f"throughput: {plan.throughput_count} creates per side with {plan.in_flight} in flight, "
        f"{plan.throughput_rounds} rounds of {per_round} in ABBA order, "
        f"after a {plan.warmup_burst}-create warm-up"
    )

    def api_create(pool: list[ApiUser]) -> SlotOperation:
        async def op(slot: int) -> None:
            rooms.made.add(await pool[slot].create())

        return op

    async def direct_create(_: int) -> None:
        rooms.made.add((await direct.create(DIRECT_USER))[0])

    operations = {name: api_create(pool) for name, pool in pools.items()} | {"direct": direct_create}
    names = list(operations)
    for name in names:
        await burst(operations[name], count=plan.warmup_burst, in_flight=plan.in_flight)
        await rooms.delete_and_settle()
    bursts: dict[str, list[Burst]] = {name: [] for name in names}
    cpu: dict[str, dict[str, float]] = {name: dict.fromkeys(meter.pids, 0.0) for name in names}
    for round_index in range(plan.throughput_rounds):
        for name in names if round_index % 2 == 0 else reversed(names):
            before = meter.snapshot()
            bursts[name].append(await burst(operations[name], count=per_round, in_flight=plan.in_flight))
            for process, used in meter.since(before).items():
                cpu[name][process] += used
            await rooms.delete_and_settle()
    out: dict[str, Any] = {"in_flight": plan.in_flight, "cpu_processes": list(meter.pids)}
    out |= {name: _burst_summary(b, cpu[name]) for name, b in bursts.items()}
    out["ratio_rps"] = {
        name: ratio(out[name]["rps"], out["direct"]["rps"]) for name in names if name != "direct"
    }
    return out


def goals(results: dict[str, Any]) -> dict[str, Any]:
    create = results["create"]["ratio_p50"][PRIMARY]
    status = results["status"]["ratio_p50"][PRIMARY]
    throughput = results["throughput"]["ratio_rps"][PRIMARY]
    return {
        "judged_on": f"{PRIMARY} (LOG_LEVEL=INFO, the default)",
        "create_ratio_p50": {
            "value": create,
            "max": GOALS["create_ratio_max"],
            "met": create <= GOALS["create_ratio_max"],
        },
        "status_ratio_p50": {
            "value": status,
            "max": GOALS["status_ratio_max"],
            "met": status <= GOALS["status_ratio_max"],
        },
        "throughput_ratio": {
            "value": throughput,
            "min": GOALS["throughput_ratio_min"],
            "met": throughput >= GOALS["throughput_ratio_min"],
        },
    }


# --- the table ---------------------------------------------------------------


def _pp(summary: dict[str, Any]) -> str:
    return f"{summary['p50_ms']:8.2f} {summary['p95_ms']:8.2f}"


def table(results: dict[str, Any]) -> str:
    apis = list(results["create"]["ratio_p50"])
    lines = [f"voicecore HTTP API vs direct livekit-api ({results['mode']} run, ms: p50 p95)", ""]
    head = f"{'':28}" + "".join(f"{name:>18}" for name in apis) + f"{'direct':>18}   ratio p50 vs direct"
    lines += [head, "-" * len(head)]
    for phase in ("create", "status"):
        block = results[phase]
        cells = "".join(f"{_pp(block[name]):>18}" for name in [*apis, "direct"])
        ratios = "  ".join(f"{name} {block['ratio_p50'][name]:.2f}x" for name in apis)
        lines.append(f"{phase + ' latency':28}{cells}   {ratios}")
    floor = results["create"][FLOOR]
    lines.append(f"{'HTTP floor (GET /healthz)':28}{_pp(floor):>18}")
    lines += [
        "",
        f"{'list':28}{'api':>18}{'direct list':>18}{'direct scan':>18}{'direct indexed':>18}"
        f"{'direct lookup':>18}   api/scan  api/list",
    ]
    for level, block in results["list"]["levels"].items():
        cells = "".join(
            f"{_pp(block[name]):>18}"
            for name in ("api", "direct_list", "direct_scan", "direct_indexed", "direct_lookup")
        )
        lines.append(
            f"{'  ' + level + ' other rooms':28}{cells}   {block['ratio_p50']['api']:7.2f}x "
            f"{block['api_vs_direct_list_p50']:7.2f}x"
        )
    tp = results["throughput"]
    lines += ["", f"throughput, {tp['in_flight']} in flight (creates/s)"]
    for name in [*apis, "direct"]:
        extra = f"   {tp['ratio_rps'][name]:.2f}x direct" if name != "direct" else ""
        lines.append(f"  {name:26}{tp[name]['rps']:10.1f}   rounds {tp[name]['rounds_rps']}{extra}")
    g = results["goals"]
    lines += [
        "",
        f"goals ({g['judged_on']}):",
        f"  create  p50 ratio {g['create_ratio_p50']['value']:.2f}x  <= 1.3x   "
        f"{'met' if g['create_ratio_p50']['met'] else 'NOT met'}",
        f"  status  p50 ratio {g['status_ratio_p50']['value']:.2f}x  <= 1.3x   "
        f"{'met' if g['status_ratio_p50']['met'] else 'NOT met'}",
        f"  throughput ratio  {g['throughput_ratio']['value']:.2f}x  >= 0.75x  "
        f"{'met' if g['throughput_ratio']['met'] else 'NOT met'}",
        "",
        f"rooms deleted {results['cleanup']['rooms_deleted']}, "
        f"left in LiveKit {results['cleanup']['rooms_left_in_livekit']}",
    ]
    return "\n".join(lines)


# --- profiling ----------------------------------------------------------------


async def _profile_workload(base_url: str, secret: str, server: LocalLiveKitServer, count: int) -> None:
    async with (
        http_client(base_url, bearer(API_USER, secret), connections=32) as client,
        livekit_client(server) as lk,
    ):
        user = ApiUser("in-process", client, API_USER)
        made: set[str] = set()
        for _ in range(count):
            made.add(await user.create())
        room = next(iter(made))
        for _ in range(count):
            await user.status(room)

        async def create(_: int) -> None:
            made.add(await user.create())

        await burst(create, count=count, in_flight=32)
        await delete_rooms(lk, made)


def profile(plan: Plan, server: LocalLiveKitServer, secret: str) -> int:
    html = RESULTS / "profile.html"
    service = InProcessService(server, secret, profile_to=html)
    count = 200 if plan.mode == "quick" else 600
    progress(
        f"profile: in-process uvicorn under pyinstrument; "
        f"{count} creates, {count} statuses, {count} concurrent"
    )
    with running([service]):
        asyncio.run(_profile_workload(service.base_url, secret, server, count))
    (RESULTS / "profile.txt").write_text(service.profile_text)
    print(service.profile_text)
    progress(
        f"profile written to {html} and {RESULTS / 'profile.txt'} "
        "(figures under a profiler are not benchmarks)"
    )
    return 0


# --- main ----------------------------------------------------------------------


def _livekit_pid(server: LocalLiveKitServer) -> int:
    process = server._process  # devserver keeps the Popen private; the pid is all we read
    if process is None:
        raise RuntimeError("livekit-server is not running")
    return process.pid


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description="voicecore HTTP API vs direct livekit-api"
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer samples: finishes in well under two minutes"
    )
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
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json", help="where the JSON goes")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    command = shlex.join(["python", "-m", "bench.run", *(sys.argv[1:] if argv is None else argv)])
    RESULTS.mkdir(exist_ok=True)
    secret = secrets.token_urlsafe(32)
    started_at = datetime.now(UTC)

    with running_livekit_server() as server, tempfile.TemporaryDirectory(prefix="bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        progress(f"livekit-server up at {server.url}")
        if args.profile:
            return profile(plan, server, secret)
        services: list[Service] = [
            ServiceProcess(PRIMARY, server, secret, "INFO", RESULTS / "service-info.log"),
            ServiceProcess("api_warning", server, secret, "WARNING", RESULTS / "service-warning.log"),
            ServiceProcess(
                PROXY,
                server,
                secret,
                "WARNING",
                RESULTS / "service-floor-proxy.log",
                pythonpath=str(REPO),
                module="bench.floor_app",
            ),
        ]
        compared: dict[str, str] = {}
        for spec in args.compare:
            label, _, revision = spec.partition("=")
            revision, _, variant = revision.partition("+")
            name = f"api_{label}"
            path = checkout(REPO, revision, scratch / label, hide_speedups=variant == "asyncio")
            services.append(
                ServiceProcess(
                    name, server, secret, "INFO", RESULTS / f"service-{label}.log", pythonpath=path
                )
            )
            compared[name] = f"voicecore as of {revision}" + (" on asyncio + h11" if variant else "")
        info = machine_info(server.binary, REPO)
        with running(services):
            progress("services ready: " + ", ".join(f"{s.name} {s.base_url}" for s in services))
            pids = {"bench": os.getpid(), "livekit-server": _livekit_pid(server)}
            pids |= {s.name: s.pid for s in services if isinstance(s, ServiceProcess) and s.pid}
            meter = CpuMeter(pids)
            ours_before, machine_before, wall_before = (
                meter.snapshot(),
                machine_cpu_seconds(),
                time.monotonic(),
            )
            figures = asyncio.run(measure(plan, server, services, secret, meter))
            ours = sum(meter.since(ours_before).values())
            machine = {k: v - machine_before[k] for k, v in machine_cpu_seconds().items()}
            capacity = (time.monotonic() - wall_before) * (os.cpu_count() or 1)
            # Anything else running on the machine meanwhile (another test suite, say) skews the figures.
            figures["machine_load"] = {
                "benchmark_processes_cpu_share": round(ours / capacity, 3),
                "other_processes_cpu_share": round(max(machine["tasks"] - ours, 0.0) / capacity, 3),
                "interrupts_cpu_share": round(machine["interrupts"] / capacity, 3),
                "steal_share": round(machine["steal"] / capacity, 3),
            }
            progress(
                f"CPU share of other processes during the measurement: "
                f"{figures['machine_load']['other_processes_cpu_share']:.0%}"
            )

    results: dict[str, Any] = {
        "benchmark": "voicecore HTTP API vs direct livekit-api",
        "mode": plan.mode,
        "command": command,
        "make_target": None if args.compare else ("bench-quick" if args.quick else "bench"),
        "started_at": started_at.isoformat(),
        "duration_seconds": round((datetime.now(UTC) - started_at).total_seconds(), 1),
        "machine": info,
        "plan": asdict(plan),
        "targets": {
            PRIMARY: "python -m voicecore_http, LOG_LEVEL=INFO (default), logs to a file",
            "api_warning": "python -m voicecore_http, LOG_LEVEL=WARNING, logs to a file",
            "direct": "one warm livekit.api.LiveKitAPI in the benchmark process",
            PROXY: "python -m bench.floor_app: direct's exact work behind raw ASGI on the same uvicorn "
            "(no framework, auth or logging); the price of the HTTP hop alone",
        }
        | {name: f"{what}, LOG_LEVEL=INFO" for name, what in compared.items()}
        | {FLOOR: "GET /healthz of the api service: the HTTP round trip alone, for reference"},
        "client": (
            "httpx.AsyncClient with keep-alive in the benchmark process: one per service for the "
            "one-at-a-time phases, one per worker (each one connection) for the concurrent phase"
        ),
        **figures,
    }
    results["goals"] = goals(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    progress(f"figures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
