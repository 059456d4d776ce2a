"""The server's bounds on the use cases: the length cap and the minute allowance, with a clock the test moves.

On the in-memory gateway and the in-process store, with a real SQLite journal; the
real server's side (rooms deleted, participants disconnected) is test_on_the_real_server.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.clocks import START, StoppedClock
from tests.support.constants import CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from tests.support.journals import SwitchableJournal, sqlite_journal_url
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitTokenIssuer
from voicecore.core.bounds import BoundsPolicy, UsagePeriod
from voicecore.core.domain import GuardrailPolicy, User
from voicecore.core.enforcer import LOCK_NAME, SessionBounds
from voicecore.core.errors import SessionNotFound, UsageExhausted
from voicecore.core.history import NO_APP_EVENTS
from voicecore.core.journal import EndReason
from voicecore.core.metadata import RoomMetadata
from voicecore.core.recorder import SessionRecorder
from voicecore.core.sessions import VoiceSessions
from voicecore.core.usage import UsageMeter
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway

ALICE = User("auth0|alice")
MINUTE = timedelta(minutes=1)


@dataclass
class World:
    clock: StoppedClock
    gateway: InMemoryRoomGateway
    store: InProcessSessionStore
    journal: SwitchableJournal
    sessions: VoiceSessions
    bounds: SessionBounds

    async def pass_at(self, offset: timedelta) -> list[tuple[str, EndReason]]:
        self.clock.now = START + offset
        ended = await self.bounds.run_once()
        assert ended is not None
        return ended


async def world(tmp_path: Path, policy: BoundsPolicy) -> World:
    clock = StoppedClock(START)
    gateway, store = InMemoryRoomGateway(clock), InProcessSessionStore(clock=clock)
    journal = SwitchableJournal(sqlite_journal_url(tmp_path))
    await journal.open()
    recorder = SessionRecorder(journal, NO_APP_EVENTS, clock=clock)
    sessions = VoiceSessions(
        gateway,
        LiveKitTokenIssuer(TEST_API_KEY, TEST_API_SECRET, server_url=CONFIGURED_LIVEKIT_URL),
        store=store,
        recorder=recorder,
        guardrails=GuardrailPolicy(max_live_per_user=0, creates_per_minute=0),
        clock=clock,
        bounds=policy,
    )
    meter = UsageMeter(journal, store, policy, clock)
    return World(
        clock, gateway, store, journal, sessions, SessionBounds(gateway, store, recorder, meter, clock=clock)
    )


@pytest.fixture
async def capped(tmp_path: Path) -> AsyncIterator[World]:
    built = await world(tmp_path, BoundsPolicy(max_duration_seconds=600))
    yield built
    await built.journal.aclose()


@pytest.fixture
async def allowed(tmp_path: Path) -> AsyncIterator[World]:
    """A minute a day for everyone, no length cap."""
    built = await world(
        tmp_path, BoundsPolicy(max_duration_seconds=0, usage_limit_minutes=1, usage_period=UsagePeriod.DAY)
    )
    yield built
    await built.journal.aclose()


async def test_a_session_is_ended_at_its_maximum_length(capped: World) -> None:
    started = await capped.sessions.start(ALICE)
    assert started.ends_at == START + timedelta(minutes=10)
    assert await capped.pass_at(timedelta(minutes=10) - timedelta(milliseconds=1)) == []
    assert started.room_name in capped.gateway.room_names
    assert await capped.pass_at(timedelta(minutes=10, seconds=1)) == [
        (started.room_name, EndReason.MAX_DURATION)
    ]
    assert started.room_name not in capped.gateway.room_names
    record = await capped.journal.get(started.room_name)
    assert record is not None
    assert (record.end_reason, record.ended_at) == (
        EndReason.MAX_DURATION,
        START + timedelta(minutes=10, seconds=1),
    )
    with pytest.raises(SessionNotFound):
        await capped.sessions.status(ALICE, started.room_name)
    assert await capped.pass_at(timedelta(minutes=11)) == []  # ended once


async def test_two_live_sessions_share_a_minute_and_are_both_cut_at_half_a_minute(allowed: World) -> None:
    first = await allowed.sessions.start(ALICE)
    second = await allowed.sessions.start(ALICE)
    assert first.ends_at == START + MINUTE  # alone when it started
    assert second.ends_at == START + MINUTE / 2  # two running: half a minute each
    assert (await allowed.sessions.status(ALICE, first.room_name)).ends_at == START + MINUTE / 2  # tightened
    # ...and the first room's metadata says so, for its agent.
    assert (
        RoomMetadata.decode(allowed.gateway.spec_of(first.room_name).metadata).ends_at == START + MINUTE / 2
    )
    assert await allowed.pass_at(timedelta(seconds=29)) == []
    ended = await allowed.pass_at(timedelta(seconds=30))
    assert sorted(ended) == sorted(
        [(first.room_name, EndReason.USAGE_EXHAUSTED), (second.room_name, EndReason.USAGE_EXHAUSTED)]
    )
    assert allowed.gateway.room_names == frozenset()
    used = (await allowed.sessions.usage(ALICE)).usage
    assert (used.used_seconds, used.remaining_seconds, used.live_sessions) == (60.0, 0.0, 0)


async def test_a_room_that_cannot_be_told_its_new_deadline_still_has_it_enforced(
    allowed: World, caplog: pytest.LogCaptureFixture
) -> None:
    first = await allowed.sessions.start(ALICE)
    allowed.gateway.fail("update_room_metadata")
    second = await allowed.sessions.start(ALICE)  # the start is not refused for it
    assert RoomMetadata.decode(allowed.gateway.spec_of(first.room_name).metadata).ends_at == START + MINUTE
    assert "could not tell the room its session's new deadline" in caplog.text
    ended = await allowed.pass_at(MINUTE / 2)  # the store's deadline is the one enforced
    assert sorted(room for room, _ in ended) == sorted([first.room_name, second.room_name])


async def test_a_start_with_the_allowance_used_up_is_refused_until_the_reset(allowed: World) -> None:
    started = await allowed.sessions.start(ALICE)
    await allowed.pass_at(MINUTE)
    rooms = allowed.gateway.room_names
    with pytest.raises(UsageExhausted) as refused:
        await allowed.sessions.start(ALICE)
    assert allowed.gateway.room_names == rooms  # nothing made
    midnight = START.replace(hour=0) + timedelta(days=1)
    assert (refused.value.used_minutes, refused.value.limit_minutes, refused.value.resets_at) == (
        1,
        1,
        midnight,
    )
    assert refused.value.retry_after_seconds == (midnight - (START + MINUTE)).total_seconds()
    # Another user has an allowance of their own, and a user's own minutes override the default.
    assert (await allowed.sessions.start(User("auth0|bob"))).room_name != started.room_name
    richer = await allowed.sessions.start(User(ALICE.id, usage_limit_minutes=5))
    assert richer.ends_at == START + 5 * MINUTE
    # The next day, the allowance is whole again.
    allowed.clock.now = midnight
    await allowed.sessions.start(ALICE)


async def test_ending_one_of_two_sessions_gives_the_other_the_time_left(allowed: World) -> None:
    first = await allowed.sessions.start(ALICE)
    second = await allowed.sessions.start(ALICE)
    allowed.clock.now = START + timedelta(seconds=10)
    await allowed.sessions.end(ALICE, first.room_name)  # 20 s used of 60: 40 s left to the other alone
    assert await allowed.pass_at(timedelta(seconds=30)) == []  # its old deadline: counted again, moved
    assert (await allowed.sessions.status(ALICE, second.room_name)).ends_at == START + timedelta(seconds=50)
    told = RoomMetadata.decode(allowed.gateway.spec_of(second.room_name).metadata)
    assert told.ends_at == START + timedelta(seconds=50)
    assert await allowed.pass_at(timedelta(seconds=50)) == [(second.room_name, EndReason.USAGE_EXHAUSTED)]


async def test_a_pass_that_recounts_a_user_ends_only_what_a_bound_has_reached(tmp_path: Path) -> None:
    # Two minutes a day and a 45 s cap. Four sessions share the minutes (a deadline of 37.5 s for
    # all); two end early, so at 46 s the minutes are not used up, but the first session's cap
    # has passed. Whichever of the two the pass meets first, the first is cut for its length and
    # the second runs on with the time that is left.
    world_ = await world(tmp_path, BoundsPolicy(max_duration_seconds=45, usage_limit_minutes=2))
    try:
        first = await world_.sessions.start(ALICE)
        world_.clock.now = START + timedelta(seconds=10)
        second, *others = [await world_.sessions.start(ALICE) for _ in range(3)]
        assert (await world_.sessions.status(ALICE, second.room_name)).ends_at == START + timedelta(
            seconds=37.5
        )
        world_.clock.now = START + timedelta(seconds=25)
        for other in others:
            await world_.sessions.end(ALICE, other.room_name)
        assert await world_.pass_at(timedelta(seconds=46)) == [(first.room_name, EndReason.MAX_DURATION)]
        # Used at 46 s: 46 + 36 + 15 + 15 = 112 of 120; the second alone has 8 s left.
        status = await world_.sessions.status(ALICE, second.room_name)
        assert status.ends_at == START + timedelta(seconds=54)
        assert await world_.pass_at(timedelta(seconds=54)) == [(second.room_name, EndReason.USAGE_EXHAUSTED)]
    finally:
        await world_.journal.aclose()


async def test_a_known_deadline_is_kept_while_the_journal_is_down(allowed: World) -> None:
    started = await allowed.sessions.start(ALICE)
    allowed.journal.down = True
    assert await allowed.pass_at(MINUTE) == [(started.room_name, EndReason.USAGE_EXHAUSTED)]
    assert started.room_name not in allowed.gateway.room_names


async def test_only_one_replica_enforces_at_a_time(capped: World) -> None:
    await capped.sessions.start(ALICE)
    capped.clock.now = START + timedelta(hours=1)
    assert await capped.store.acquire_lock(LOCK_NAME, "another replica", lease=timedelta(seconds=30))
    assert await capped.bounds.run_once() is None
    assert len(capped.gateway.room_names) == 1


async def test_erasing_history_does_not_reset_the_meter(allowed: World) -> None:
    started = await allowed.sessions.start(ALICE)
    allowed.clock.now = START + timedelta(seconds=40)
    await allowed.sessions.end(ALICE, started.room_name)
    assert await allowed.sessions.erase_history(ALICE) == 1
    used = (await allowed.sessions.usage(ALICE)).usage
    assert (used.used_seconds, used.remaining_seconds) == (40.0, 20.0)
    assert (await allowed.sessions.start(ALICE)).ends_at == START + timedelta(seconds=60)
