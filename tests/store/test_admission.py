"""Contract, both stores: admitting a session behind the rate and the cap in one atomic step."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.store.support import FakeClock, record
from voicecore.core.store import (
    Admitted,
    RateAllowed,
    RateLimited,
    RoomTaken,
    SessionStore,
    SlotRefused,
    SlotReserved,
)

LEASE = timedelta(seconds=30)


async def test_an_admitted_session_is_recorded_and_counts_against_the_cap(store: SessionStore) -> None:
    assert await store.admit_session(record("room-1", "alice"), max_live=2, per_minute=10) == Admitted()
    assert [r.room_name for r in await store.user_sessions("alice")] == ["room-1"]
    assert await store.admit_session(record("room-2", "alice"), max_live=2, per_minute=10) == Admitted()
    assert await store.admit_session(record("room-3", "alice"), max_live=2, per_minute=10) == SlotRefused(
        live=2, pending=0
    )
    # The cap is per user.
    assert await store.admit_session(record("room-4", "bob"), max_live=2, per_minute=10) == Admitted()
    assert [r.room_name for r in await store.user_sessions("alice")] == ["room-1", "room-2"]


async def test_a_recorded_room_is_taken_and_nothing_is_spent(store: SessionStore) -> None:
    await store.add_session(record("room-1", "alice"))
    assert await store.admit_session(record("room-1", "alice"), max_live=5, per_minute=1) == RoomTaken()
    # The one token a minute is still there.
    assert await store.take_creation_token("alice", per_minute=1) == RateAllowed()


async def test_past_the_rate_nothing_is_recorded(store: SessionStore, clock: FakeClock) -> None:
    assert await store.admit_session(record("room-1", "alice"), max_live=0, per_minute=1) == Admitted()
    refused = await store.admit_session(record("room-2", "alice"), max_live=0, per_minute=1)
    assert refused == RateLimited(retry_after_seconds=60)
    assert await store.get_session("room-2") is None
    clock.advance(timedelta(seconds=60))
    assert await store.admit_session(record("room-2", "alice"), max_live=0, per_minute=1) == Admitted()


async def test_admission_shares_the_bucket_of_take_creation_token(store: SessionStore) -> None:
    assert await store.take_creation_token("alice", per_minute=2) == RateAllowed()
    assert await store.admit_session(record("room-1", "alice"), max_live=0, per_minute=2) == Admitted()
    assert await store.take_creation_token("alice", per_minute=2) == RateLimited(retry_after_seconds=30)


async def test_a_refusal_at_the_cap_keeps_the_token_it_took(store: SessionStore) -> None:
    """Retrying at the cap still spends the user's rate: the cap cannot be hammered for free."""
    assert await store.admit_session(record("room-1", "alice"), max_live=1, per_minute=3) == Admitted()
    for room in ("room-2", "room-3"):
        refused = await store.admit_session(record(room, "alice"), max_live=1, per_minute=3)
        assert refused == SlotRefused(live=1, pending=0)
    assert await store.take_creation_token("alice", per_minute=3) == RateLimited(retry_after_seconds=20)


async def test_others_reservations_count_and_the_rooms_own_is_confirmed(store: SessionStore) -> None:
    assert await store.reserve_slot("alice", "room-1", limit=2, lease=LEASE) == SlotReserved()
    assert await store.reserve_slot("alice", "room-2", limit=2, lease=LEASE) == SlotReserved()
    # room-1's own reservation does not count against it, and admitting it confirms it.
    assert await store.admit_session(record("room-1", "alice"), max_live=2, per_minute=0) == Admitted()
    assert await store.release_slot("alice", "room-1") is False
    assert await store.admit_session(record("room-3", "alice"), max_live=2, per_minute=0) == SlotRefused(
        live=1, pending=1
    )


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
    assert answers.count(SlotRefused(live=3, pending=0)) == 17
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
