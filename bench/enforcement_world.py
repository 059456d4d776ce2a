"""Issue 20's enforcement bench, its world: N live sessions put in a store, a journal and a gateway.

bench.enforcement measures the bounds' passes over what this module builds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import redis
from sqlalchemy import create_engine, func, select

from bench.enforcement_scenario import (
    ALLOWANCE_SESSION_SECONDS,
    FILL_IN_FLIGHT,
    MAX_DURATION_SECONDS,
    ROOM_PREFIX,
    Scenario,
    Servers,
)
from bench.targets import Target, service_environment
from voicecore.adapters.instrumented_gateway import InstrumentedRoomGateway
from voicecore.adapters.livekit import LiveKitRoomGateway
from voicecore.adapters.sql_journal.rows import record_row
from voicecore.adapters.sql_journal.schema import SESSIONS
from voicecore.container import VoiceCoreContainer
from voicecore.core.domain import utc_now
from voicecore.core.journal import JournalRecord
from voicecore.core.metrics import NO_METRICS
from voicecore.core.ports import RoomGateway, RoomSpec
from voicecore.core.session_record import SessionRecord
from voicecore.settings import load_settings
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore_http.logs import PlainFormatter, RequestContextFilter


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
class SessionPlan:
    """Each session's record (created, its ``ends_at``, its allowance), and which of them fall due."""

    first_due: datetime
    records: list[SessionRecord] = field(default_factory=list)
    due: list[SessionRecord] = field(default_factory=list)


def session_plan(scenario: Scenario, run: str, first_due: datetime) -> SessionPlan:
    """The records, in turns across users (each user's first session, then each one's second, ...).

    The first ``falling_due`` in that order fall due (``usage_exhausted``: whole users, whose
    sessions share the moment their allowance runs out), at ``first_due`` or evenly over
    ``spread_seconds`` from it; the others' deadlines are half an hour on, past the run.
    """
    plan = SessionPlan(first_due)
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
def service_logging(path: Path) -> Iterator[None]:
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


def ended_in_journal(journal_path: Path, run: str) -> dict[str, int]:
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
class World:
    container: VoiceCoreContainer
    gateway: StampedGateway
    inner: RoomGateway
    journal_path: Path


@contextlib.asynccontextmanager
async def opened_world(scenario: Scenario, servers: Servers, run: str) -> AsyncIterator[World]:
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
            yield World(container, gateway, inner, journal_path)
        finally:
            _flush(servers.redis_url)
    for path in servers.scratch.glob(f"journal-{run}.sqlite3*"):
        path.unlink()


async def fill(
    world: World, scenario: Scenario, run: str, budget: float, made: set[str]
) -> SessionPlan | None:
    """The sessions in the journal, the store and the gateway; None if that took past the budget."""
    plan = session_plan(scenario, run, utc_now() + timedelta(seconds=budget + scenario.idle_seconds))
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
