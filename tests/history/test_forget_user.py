"""Account deletion (``forget_user``): the live sessions end, then all voicecore kept of the user goes.

And retention: one replica at a time purges ended records older than JOURNAL_RETENTION_DAYS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.constants import CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from tests.support.journals import sqlite_journal_url, stored_events
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitTokenIssuer
from voicecore.adapters.sql_journal import SqlSessionJournal
from voicecore.core.domain import GuardrailPolicy, User, utc_now
from voicecore.core.history import AppEvents
from voicecore.core.journal import HistoryQuery
from voicecore.core.recorder import SessionRecorder
from voicecore.core.retention import LOCK_NAME, JournalRetention
from voicecore.core.sessions import ForgottenUser, VoiceSessions
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway

ALICE, BOB = User("auth0|alice"), User("auth0|alice-2")  # ids that extend each other


class World:
    def __init__(self, url: str) -> None:
        self.url = url
        self.gateway = InMemoryRoomGateway()
        self.store = InProcessSessionStore()
        self.journal = SqlSessionJournal(url)
        self.sessions = VoiceSessions(
            self.gateway,
            LiveKitTokenIssuer(TEST_API_KEY, TEST_API_SECRET, server_url=CONFIGURED_LIVEKIT_URL),
            store=self.store,
            recorder=SessionRecorder(self.journal, AppEvents(enabled=True, clock=utc_now), clock=utc_now),
            guardrails=GuardrailPolicy(max_live_per_user=0, creates_per_minute=0),
        )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    built = World(sqlite_journal_url(tmp_path))
    await built.journal.open()
    yield built
    await built.sessions.aclose()
    await built.journal.aclose()


async def test_forgetting_a_user_ends_their_sessions_and_erases_them_alone(world: World) -> None:
    sessions = world.sessions
    keyed = await sessions.start(ALICE, idempotency_key="k-1")
    live = await sessions.start(ALICE)
    ended = await sessions.start(ALICE)
    await sessions.end(ALICE, ended.room_name)
    bobs = await sessions.start(BOB, idempotency_key="k-1")

    forgotten = await sessions.forget_user(ALICE.id)

    assert forgotten == ForgottenUser(
        live_sessions_ended=2,
        records_erased=3,
        undelivered_events_dropped=4,  # two starts, one start and its end: nothing was sent yet
        idempotency_keys=1,
        index_entries=2,
    )
    assert world.gateway.room_names == {bobs.room_name}
    assert await world.store.user_sessions(ALICE.id) == []
    assert await world.journal.history(HistoryQuery(ALICE.id, limit=10)) == []
    for room in (keyed.room_name, live.room_name, ended.room_name):
        assert await stored_events(world.url, room) == []
    # The key is forgotten: the same key now starts a new session instead of answering the old one.
    again = await sessions.start(ALICE, idempotency_key="k-1")
    assert again.room_name not in {keyed.room_name, live.room_name}
    # Bob, whose id extends Alice's, keeps everything.
    assert [r.room_name for r in await world.journal.history(HistoryQuery(BOB.id, limit=10))] == [
        bobs.room_name
    ]
    assert (await sessions.start(BOB, idempotency_key="k-1")).room_name == bobs.room_name


async def test_forgetting_a_user_twice_or_one_never_seen_removes_nothing_more(world: World) -> None:
    await world.sessions.start(ALICE)
    await world.sessions.forget_user(ALICE.id)
    assert await world.sessions.forget_user(ALICE.id) == ForgottenUser(0, 0, 0, 0, 0)
    assert await world.sessions.forget_user("nobody at all") == ForgottenUser(0, 0, 0, 0, 0)


async def test_retention_purges_old_ended_records_one_replica_at_a_time(world: World) -> None:
    old = await world.sessions.start(ALICE)
    await world.sessions.end(ALICE, old.room_name)
    kept_live = await world.sessions.start(ALICE)
    later = datetime.now(UTC) + timedelta(days=91)
    retention = JournalRetention(world.journal, world.store, keep=timedelta(days=90), clock=lambda: later)

    assert await world.store.acquire_lock(LOCK_NAME, "another replica", lease=timedelta(minutes=1))
    assert await retention.run_once() is None  # another replica is purging
    assert await world.store.release_lock(LOCK_NAME, "another replica")
    assert await retention.run_once() == 1
    assert await world.journal.known([old.room_name, kept_live.room_name]) == {kept_live.room_name}
    # Ninety days after now nothing has ended that long ago: nothing to purge.
    recent = JournalRetention(world.journal, world.store, keep=timedelta(days=90), clock=utc_now)
    assert await recent.run_once() == 0
