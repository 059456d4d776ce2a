"""Contract, both stores: admitting a session behind the rate and the cap in one atomic step."""

from __future__ import annotations

import asyncio
import itertools
import math
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.clocks import StoppedClock
from tests.support.records import record
from voicecore.core.store import Admission, Admitted, RateLimited, RoomTaken, SessionStore, SlotRefused

users = (f"user-{n}" for n in itertools.count())
rooms = (f"rate-room-{n}" for n in itertools.count())


async def admit(store: SessionStore, user: str, *, per_minute: int) -> Admission:
    """Admit a new session of ``user`` behind the rate limit alone."""
    return await store.admit_session(record(next(rooms), user), max_live=0, per_minute=per_minute)


async def test_an_admitted_session_is_recorded_and_counts_against_the_cap(store: SessionStore) -> None:
    assert await store.admit_session(record("room-1", "alice"), max_live=2, per_minute=10) == Admitted()
    assert [r.room_name for r in await store.user_sessions("alice")] == ["room-1"]
    assert await store.admit_session(record("room-2", "alice"), max_live=2, per_minute=10) == Admitted()
    assert await store.admit_session(record("room-3", "alice"), max_live=2, per_minute=10) == SlotRefused(
        live=2
    )
    # The cap is per user.
    assert await store.admit_session(record("room-4", "bob"), max_live=2, per_minute=10) == Admitted()
    assert [r.room_name for r in await store.user_sessions("alice")] == ["room-1", "room-2"]


async def test_a_recorded_room_is_taken_and_nothing_is_spent(store: SessionStore) -> None:
    await store.add_session(record("room-1", "alice"))
    assert await store.admit_session(record("room-1", "alice"), max_live=5, per_minute=1) == RoomTaken()
    # The one token a minute is still there.
    assert await admit(store, "alice", per_minute=1) == Admitted()


async def test_past_the_rate_nothing_is_recorded(store: SessionStore, clock: StoppedClock) -> None:
    assert await store.admit_session(record("room-1", "alice"), max_live=0, per_minute=1) == Admitted()
    refused = await store.admit_session(record("room-2", "alice"), max_live=0, per_minute=1)
    assert refused == RateLimited(retry_after_seconds=60)
    assert await store.get_session("room-2") is None
    clock.advance(timedelta(seconds=60))
    assert await store.admit_session(record("room-2", "alice"), max_live=0, per_minute=1) == Admitted()


async def test_a_refusal_at_the_cap_keeps_the_token_it_took(store: SessionStore) -> None:
    """Retrying at the cap still spends the user's rate: the cap cannot be hammered for free."""
    assert await store.admit_session(record("room-1", "alice"), max_live=1, per_minute=3) == Admitted()
    for room in ("room-2", "room-3"):
        refused = await store.admit_session(record(room, "alice"), max_live=1, per_minute=3)
        assert refused == SlotRefused(live=1)
    assert await admit(store, "alice", per_minute=3) == RateLimited(retry_after_seconds=20)


async def test_ending_a_session_frees_its_slot_at_once(store: SessionStore) -> None:
    assert await store.admit_session(record("room-1", "alice"), max_live=1, per_minute=0) == Admitted()
    assert isinstance(
        await store.admit_session(record("room-2", "alice"), max_live=1, per_minute=0), SlotRefused
    )
    await store.remove_session("room-1")
    assert await store.admit_session(record("room-2", "alice"), max_live=1, per_minute=0) == Admitted()


async def test_with_both_checks_off_admission_is_add_session(store: SessionStore) -> None:
    rooms = [f"room-{n}" for n in range(25)]
    assert [await store.admit_session(record(r, "alice"), max_live=0, per_minute=0) for r in rooms] == [
        Admitted()
    ] * 25
    assert len(await store.user_sessions("alice")) == 25


async def test_twenty_concurrent_admissions_over_two_replicas_admit_exactly_the_cap(
    replicas: tuple[SessionStore, SessionStore],
) -> None:
    first, second = replicas
    answers = await asyncio.gather(
        *(
            replica.admit_session(record(f"room-{n}", "alice"), max_live=3, per_minute=100)
            for n, replica in enumerate((first, second) * 10)
        )
    )
    assert answers.count(Admitted()) == 3
    assert answers.count(SlotRefused(live=3)) == 17
    assert len(await first.user_sessions("alice")) == 3


@pytest.mark.parametrize(("max_live", "per_minute"), [(-1, 0), (0, -1)])
async def test_negative_limits_are_refused(store: SessionStore, max_live: int, per_minute: int) -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        await store.admit_session(record("room-1", "alice"), max_live=max_live, per_minute=per_minute)
    assert await store.get_session("room-1") is None


@pytest.mark.parametrize("user_id", ['quote"d', "back\\slash", "braces{}[]", "auth0|64f1c2", "x" * 225])
async def test_any_user_id_round_trips_through_admission(store: SessionStore, user_id: str) -> None:
    """The Redis store sends a record as one JSON argument: escaping must not change a field."""
    item = record(f"room-of-{user_id}", user_id)
    assert await store.admit_session(item, max_live=1, per_minute=1) == Admitted()
    assert await store.get_session(item.room_name) == item
    assert await store.user_sessions(user_id) == [item]


# --- the creation rate: a token bucket per user, and its Retry-After ------------------


async def test_a_full_bucket_allows_a_minute_of_creates_then_says_when(
    store: SessionStore, clock: StoppedClock
) -> None:
    assert [await admit(store, "alice", per_minute=3) for _ in range(3)] == [Admitted()] * 3
    # One token comes back every 20 s.
    assert await admit(store, "alice", per_minute=3) == RateLimited(retry_after_seconds=20)
    clock.advance(timedelta(seconds=19, milliseconds=500))
    assert await admit(store, "alice", per_minute=3) == RateLimited(retry_after_seconds=1)
    clock.advance(timedelta(milliseconds=500))
    assert await admit(store, "alice", per_minute=3) == Admitted()
    assert await admit(store, "alice", per_minute=3) == RateLimited(retry_after_seconds=20)
    assert await admit(store, "bob", per_minute=3) == Admitted()


async def test_retry_after_is_whole_seconds_and_at_least_one(store: SessionStore) -> None:
    # A token every 500 ms: the wait is rounded up, never down to 0.
    answers = [await admit(store, "alice", per_minute=120) for _ in range(121)]
    assert answers == [Admitted()] * 120 + [RateLimited(retry_after_seconds=1)]


async def test_refused_attempts_do_not_use_up_tokens(store: SessionStore, clock: StoppedClock) -> None:
    await admit(store, "alice", per_minute=1)
    for _ in range(5):
        await admit(store, "alice", per_minute=1)
    clock.advance(timedelta(minutes=1))
    assert await admit(store, "alice", per_minute=1) == Admitted()


async def test_an_idle_bucket_refills_to_its_depth_and_no_more(
    store: SessionStore, clock: StoppedClock
) -> None:
    for _ in range(2):
        await admit(store, "alice", per_minute=2)
    clock.advance(timedelta(hours=5))
    answers = [await admit(store, "alice", per_minute=2) for _ in range(3)]
    assert answers == [Admitted(), Admitted(), RateLimited(retry_after_seconds=30)]


steps = st.lists(st.tuples(st.integers(0, 90_000), st.integers(1, 4)), min_size=1, max_size=25)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(per_minute=st.integers(1, 30), plan=steps)
async def test_the_limit_holds_and_retry_after_tells_the_truth(
    store: SessionStore, clock: StoppedClock, per_minute: int, plan: list[tuple[int, int]]
) -> None:
    """Over any stretch, admitted creates <= bucket depth + what refilled; a waited Retry-After works."""
    user = next(users)
    start = clock.now
    allowed = 0
    for wait_ms, attempts in plan:
        clock.advance(timedelta(milliseconds=wait_ms))
        for _ in range(attempts):
            decision = await admit(store, user, per_minute=per_minute)
            if isinstance(decision, Admitted):
                allowed += 1
            else:
                assert isinstance(decision, RateLimited)
                assert decision.retry_after_seconds >= 1
            elapsed_minutes = (clock.now - start) / timedelta(minutes=1)
            assert allowed <= per_minute + math.floor(elapsed_minutes * per_minute)
    waited = await admit(store, user, per_minute=per_minute)
    if isinstance(waited, RateLimited):
        clock.advance(timedelta(seconds=waited.retry_after_seconds))
        assert await admit(store, user, per_minute=per_minute) == Admitted()


async def test_concurrent_creates_over_two_replicas_take_exactly_the_tokens_there_are(
    replicas: tuple[SessionStore, SessionStore],
) -> None:
    first, second = replicas
    answers = await asyncio.gather(
        *(admit(replica, "alice", per_minute=5) for replica in (first, second) * 10)
    )
    assert answers.count(Admitted()) == 5
    assert answers.count(RateLimited(retry_after_seconds=12)) == 15
