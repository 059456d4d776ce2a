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
import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal, Protocol, runtime_checkable

import redis
from sqlalchemy import create_engine, func, select

from bench.cpu import cpu_seconds
from bench.progress import progress
from bench.stats import percentile
from bench.targets import LiveKitAccess, StoreMode, Target, service_environment
from voicecore.adapters.instrumented_gateway import InstrumentedRoomGateway
from voicecore.adapters.livekit import LiveKitRoomGateway
from voicecore.adapters.sql_journal.rows import record_row
from voicecore.adapters.sql_journal.schema import SESSIONS
from voicecore.container import VoiceCoreContainer
from voicecore.core.domain import utc_now
from voicecore.core.enforcer import PASS_SECONDS
from voicecore.core.journal import JournalRecord
from voicecore.core.metrics import NO_METRICS
from voicecore.core.ports import RoomGateway, RoomSpec
from voicecore.core.replica_work import every
from voicecore.core.session_record import SessionRecord
from voicecore.settings import load_settings
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore_http.logs import PlainFormatter, RequestContextFilter

Reason = Literal["max_duration", "usage_exhausted"]
GatewayMode = Literal["memory", "livekit"]

MAX_DURATION_SECONDS: Final = 3600  # SESSION_MAX_DURATION_SECONDS, the default
ALLOWANCE_SESSION_SECONDS: Final = 60  # each of a user's sessions ran this long when their allowance ran out
ROOM_PREFIX: Final = "fitness-voice-bench-bounds-"  # the harness's leftover sweep knows this prefix
IDLE_SECONDS: Final = 3.0  # idle passes (none due) come first, for about this long
GIVE_UP_SECONDS: Final = 900.0  # a run waits this long past its last deadline, then counts the misses
# A fill's budget per session, generous: the first deadline is planned after it. A fill that
# overruns it anyway is thrown away and done again with twice the budget.
FILL_SECONDS_PER_SESSION: Final[Mapping[str, float]] = {"memory": 0.0003, "redis": 0.001, "livekit": 0.01}
FILL_ATTEMPTS: Final = 3
FILL_IN_FLIGHT: Final = 32


@dataclass(frozen=True)
class Scenario:
    store: StoreMode
    sessions: int  # live
    users: int
    reason: Reason
    gateway: GatewayMode = "memory"
    spread_seconds: float = 0.0  # the due deadlines evenly over this long; 0: all at one moment
    due: int | None = None  # how many of the live sessions fall due (None: all); the others run on
    idle_seconds: float = IDLE_SECONDS  # at least this long between the loop's start and the first deadline

    def __post_init__(self) -> None:
        if self.sessions % self.users:
            raise ValueError("every user gets the same number of sessions")
        if not 0 < self.falling_due <= self.sessions:
            raise ValueError("between one and every live session falls due")
        if self.reason == "usage_exhausted" and self.falling_due % self.per_user:
            raise ValueError("a user's sessions share one allowance: all of them fall due, or none")

    @property
    def per_user(self) -> int:
        return self.sessions // self.users

    @property
    def falling_due(self) -> int:
        return self.sessions if self.due is None else self.due

    @property
    def shape(self) -> str:
        due = f"{self.falling_due:,} due" if self.due is not None else "all due"
        return f"{due} over {self.spread_seconds:g} s" if self.spread_seconds else f"{due} together"

    @property
    def label(self) -> str:
        return (
            f"{self.store} store, {self.gateway} gateway, {self.sessions:,} live, {self.reason}, {self.shape}"
        )

    @property
    def key(self) -> str:
        spread = f"-over{self.spread_seconds:g}s" if self.spread_seconds else "-together"
        return f"{self.store}-{self.gateway}-{self.sessions}-{self.reason}-due{self.falling_due}{spread}"


@dataclass(frozen=True)
class Servers:
    """What a scenario runs against: LiveKit (its gateway, and the settings' URL), Redis for that store."""

    livekit: LiveKitAccess
    auth_secret: str
    redis_url: str | None  # a database of its own, emptied before each run
    pids: Mapping[str, int]  # redis-server and livekit-server, for their CPU time
    scratch: Path  # the journals' files
    log_path: Path  # voicecore's log lines, INFO, as the service writes them


@dataclass
class Pass:
    started_at: datetime
    seconds: float
    cpu: dict[str, float]  # seconds of CPU per process during the pass
    ended: int


class StampedGateway(InstrumentedRoomGateway):
    """Any gateway, with the moment each DeleteRoom that deleted a room returned."""

    def __init__(self, inner: RoomGateway) -> None:
        super().__init__(inner, NO_METRICS)
        self.deleted: dict[str, datetime] = {}

    async def delete_room(self, name: str) -> bool:
        deleted = await super().delete_room(name)
        if deleted:
            self.deleted[name] = utc_now()
        return deleted


@dataclass
class _Plan:
    """Each session's record (created, its ``ends_at``, its allowance), and which of them fall due."""

    first_due: datetime
    records: list[SessionRecord] = field(default_factory=list)
    due: list[SessionRecord] = field(default_factory=list)


def _plan(scenario: Scenario, run: str, first_due: datetime) -> _Plan:
    """The records, in turns across users (each user's first session, then each one's second, ...).

    The first ``falling_due`` in that order fall due (``usage_exhausted``: whole users, whose
    sessions share the moment their allowance runs out), at ``first_due`` or evenly over
    ``spread_seconds`` from it; the others' deadlines are half an hour on, past the run.
    """
    plan = _Plan(first_due)
    spread = timedelta(seconds=scenario.spread_seconds)
    due_users = scenario.falling_due // scenario.per_user
    for index in range(scenario.per_user):
        for user in range(scenario.users):
            order = index * scenario.users + user
            falls_due = (
                user < due_users if scenario.reason == "usage_exhausted" else order < scenario.falling_due
            )
            if not falls_due:
                due = first_due + timedelta(minutes=30)
            elif scenario.reason == "usage_exhausted":
                due = first_due + spread * user / due_users
            else:
                due = first_due + spread * order / scenario.falling_due
            if scenario.reason == "max_duration":
                created, allowance = due - timedelta(seconds=MAX_DURATION_SECONDS), None
            else:
                # k sessions since ``created`` have used k * 60 s at ``due``: the allowance, exactly.
                created = due - timedelta(seconds=ALLOWANCE_SESSION_SECONDS)
                allowance = ALLOWANCE_SESSION_SECONDS * scenario.per_user
            record = SessionRecord(
                room_name=f"{ROOM_PREFIX}{run}-{user}-{index}",
                user_id=f"bench-bounds-{run}-{user}",
                agent_type="workout",
                created_at=created,
                ends_at=due,
                allowance_seconds=allowance,
            )
            plan.records.append(record)
            if falls_due:
                plan.due.append(record)
    return plan


@contextlib.contextmanager
def _service_logging(path: Path) -> Iterator[None]:
    """voicecore's INFO lines (one per session ended) to a file, formatted as the service formats them."""
    logger = logging.getLogger("voicecore")
    handler = logging.FileHandler(path, mode="a")
    handler.setFormatter(PlainFormatter())
    handler.addFilter(RequestContextFilter())
    before = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before[0])
        logger.propagate = before[1]
        handler.close()


def _insert_journal_rows(journal_path: Path, records: Sequence[SessionRecord]) -> None:
    """The sessions' started records, in one transaction: as ``journal.start`` writes them, 10,000 at once."""
    engine = create_engine(f"sqlite:///{journal_path}")
    try:
        rows = [
            record_row(JournalRecord(r.room_name, r.user_id, r.agent_type, r.created_at, dispatches=1))
            for r in records
        ]
        with engine.begin() as connection:
            connection.execute(SESSIONS.insert(), rows)
    finally:
        engine.dispose()


def _ended_in_journal(journal_path: Path, run: str) -> dict[str, int]:
    """How many of the run's sessions the journal shows ended, by reason."""
    engine = create_engine(f"sqlite:///{journal_path}")
    try:
        c = SESSIONS.c
        query = (
            select(c.end_reason, func.count())
            .where(c.room_name.startswith(f"{ROOM_PREFIX}{run}-"), c.ended_at_us.is_not(None))
            .group_by(c.end_reason)
        )
        with engine.connect() as connection:
            return {str(reason): int(count) for reason, count in connection.execute(query)}
    finally:
        engine.dispose()


async def _gathered(jobs: Sequence[Any], work: Any, in_flight: int = FILL_IN_FLIGHT) -> None:
    """``work(job)`` for every job, ``in_flight`` at a time."""
    pending = list(jobs)

    async def worker() -> None:
        while pending:
            await work(pending.pop())

    await asyncio.gather(*(worker() for _ in range(in_flight)))


def _flush(redis_url: str | None) -> None:
    if redis_url is not None:
        client = redis.Redis.from_url(redis_url)
        try:
            client.flushdb()
        finally:
            client.close()


@runtime_checkable
class _Opened(Protocol):
    async def open(self) -> None: ...
    async def aclose(self) -> None: ...


@dataclass
class _World:
    container: VoiceCoreContainer
    gateway: StampedGateway
    inner: RoomGateway
    journal_path: Path


@contextlib.asynccontextmanager
async def _world(scenario: Scenario, servers: Servers, run: str) -> AsyncIterator[_World]:
    """The store, the journal and the bounds, as the composition root builds them; the gateway replaced."""
    _flush(servers.redis_url)
    journal_path = servers.scratch / f"journal-{run}.sqlite3"
    target = Target("bounds-enforcer", "the bounds in this process", store=scenario.store)
    env = service_environment(
        target,
        servers.livekit,
        servers.auth_secret,
        servers.redis_url if scenario.store == "redis" else None,
    )
    env |= {
        "JOURNAL_URL": f"sqlite:///{journal_path}",
        "SESSION_MAX_DURATION_SECONDS": str(MAX_DURATION_SECONDS),
    }
    inner: RoomGateway
    if scenario.gateway == "livekit":
        livekit = servers.livekit
        inner = LiveKitRoomGateway(livekit.url, livekit.api_key, livekit.api_secret)
    else:
        inner = InMemoryRoomGateway()
    gateway = StampedGateway(inner)
    container = VoiceCoreContainer.from_settings(load_settings(env), room_gateway=gateway)
    store, journal = container.session_store(), container.journal()
    async with contextlib.AsyncExitStack() as stack:
        for client in (inner, store):
            if isinstance(client, _Opened):
                await client.open()
                stack.push_async_callback(client.aclose)
        await journal.open()
        stack.push_async_callback(journal.aclose)
        try:
            yield _World(container, gateway, inner, journal_path)
        finally:
            _flush(servers.redis_url)
    for path in servers.scratch.glob(f"journal-{run}.sqlite3*"):
        path.unlink()


async def _fill(world: _World, scenario: Scenario, run: str, budget: float, made: set[str]) -> _Plan | None:
    """The sessions in the journal, the store and the gateway; None if that took past the budget."""
    plan = _plan(scenario, run, utc_now() + timedelta(seconds=budget + scenario.idle_seconds))
    await asyncio.to_thread(_insert_journal_rows, world.journal_path, plan.records)
    store = world.container.session_store()

    async def add(record: SessionRecord) -> None:
        if not await store.add_session(record):
            raise RuntimeError(f"{record.room_name} was already in the store")

    async def create(record: SessionRecord) -> None:
        made.add(record.room_name)  # deleted at the end of the benchmark whatever happens
        await world.inner.create_room(
            RoomSpec(name=record.room_name, metadata="", empty_timeout_seconds=600, max_participants=2)
        )

    await _gathered(plan.records, add)
    await _gathered(plan.records, create, in_flight=16 if scenario.gateway == "livekit" else FILL_IN_FLIGHT)
    if (plan.first_due - utc_now()).total_seconds() < scenario.idle_seconds / 2:
        return None
    return plan


def _cpu_now(pids: Mapping[str, int]) -> dict[str, float]:
    return {"bench": time.process_time()} | {name: cpu_seconds(pid) for name, pid in pids.items()}


async def _enforced(world: _World, plan: _Plan, servers: Servers) -> tuple[list[Pass], int]:
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
    plan: _Plan
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
        async with _world(scenario, servers, name) as world:
            filled_at = time.perf_counter()
            plan = await _fill(world, scenario, name, budget, made)
            fill_seconds = time.perf_counter() - filled_at
            if plan is None:
                progress(f"  {scenario.label}: the fill overran its {budget:.1f} s, again with twice that")
                budget *= 2
                continue
            with _service_logging(servers.log_path):
                passes, missed = await _enforced(world, plan, servers)
            ended = await asyncio.to_thread(_ended_in_journal, world.journal_path, name)
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
