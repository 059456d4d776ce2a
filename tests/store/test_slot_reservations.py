"""Contract, both stores: the per-user cap as atomic slot reservations with a lease."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.store.support import FakeClock, record
from voicecore.core.store import SessionStore, SlotRefused, SlotReserved

LEASE = timedelta(seconds=30)


async def test_a_user_gets_slots_up_to_the_limit(store: SessionStore) -> None:
    for holder in ("room-1", "room-2", "room-3"):
        assert await store.reserve_slot("alice", holder, limit=3, lease=LEASE) == SlotReserved()
    assert await store.reserve_slot("alice", "room-4", limit=3, lease=LEASE) == SlotRefused(live=0, pending=3)
    # Slots are per user.
    assert await store.reserve_slot("bob", "room-5", limit=3, lease=LEASE) == SlotReserved()


async def test_a_confirmed_slot_counts_once_as_a_live_session(store: SessionStore) -> None:
    assert await store.reserve_slot("alice", "room-1", limit=2, lease=LEASE) == SlotReserved()
    assert await store.add_session(record("room-1", "alice"))
    assert await store.reserve_slot("alice", "room-2", limit=2, lease=LEASE) == SlotReserved()
    assert await store.reserve_slot("alice", "room-3", limit=2, lease=LEASE) == SlotRefused(live=1, pending=1)
    # The confirmed reservation is no longer pending: releasing it finds nothing.
    assert await store.release_slot("alice", "room-1") is False


async def test_sessions_added_without_a_reservation_count_too(store: SessionStore) -> None:
    await store.add_session(record("room-1", "alice"))
    await store.add_session(record("room-2", "alice"))
    assert await store.reserve_slot("alice", "room-3", limit=2, lease=LEASE) == SlotRefused(live=2, pending=0)


async def test_ending_a_session_frees_its_slot_at_once(store: SessionStore) -> None:
    await store.add_session(record("room-1", "alice"))
    assert isinstance(await store.reserve_slot("alice", "room-2", limit=1, lease=LEASE), SlotRefused)
    await store.remove_session("room-1")
    assert await store.reserve_slot("alice", "room-2", limit=1, lease=LEASE) == SlotReserved()


async def test_releasing_a_reservation_frees_its_slot(store: SessionStore) -> None:
    await store.reserve_slot("alice", "room-1", limit=1, lease=LEASE)
    assert await store.release_slot("alice", "room-1") is True
    assert await store.release_slot("alice", "room-1") is False
    assert await store.release_slot("bob", "room-1") is False
    assert await store.reserve_slot("alice", "room-2", limit=1, lease=LEASE) == SlotReserved()


async def test_an_unconfirmed_reservation_lapses_after_its_lease(
    store: SessionStore, clock: FakeClock
) -> None:
    """A replica that died between reserving and creating must not hold the slot for ever."""
    await store.reserve_slot("alice", "room-1", limit=1, lease=LEASE)
    clock.advance(LEASE - timedelta(milliseconds=1))
    assert await store.reserve_slot("alice", "room-2", limit=1, lease=LEASE) == SlotRefused(live=0, pending=1)
    clock.advance(timedelta(milliseconds=1))
    assert await store.reserve_slot("alice", "room-2", limit=1, lease=LEASE) == SlotReserved()
    assert await store.release_slot("alice", "room-1") is False


async def test_reserving_again_renews_the_lease_without_a_second_slot(
    store: SessionStore, clock: FakeClock
) -> None:
    await store.reserve_slot("alice", "room-1", limit=2, lease=LEASE)
    clock.advance(timedelta(seconds=20))
    assert await store.reserve_slot("alice", "room-1", limit=2, lease=LEASE) == SlotReserved()
    assert await store.reserve_slot("alice", "room-2", limit=2, lease=LEASE) == SlotReserved()
    clock.advance(timedelta(seconds=20))  # 40 s after the first reservation, 20 s after its renewal
    assert await store.reserve_slot("alice", "room-3", limit=2, lease=LEASE) == SlotRefused(live=0, pending=2)


async def test_a_live_holder_asking_again_keeps_its_slot(store: SessionStore) -> None:
    await store.add_session(record("room-1", "alice"))
    assert await store.reserve_slot("alice", "room-1", limit=1, lease=LEASE) == SlotReserved()
    assert await store.reserve_slot("alice", "room-2", limit=1, lease=LEASE) == SlotRefused(live=1, pending=0)


async def test_twenty_concurrent_reservations_over_two_replicas_get_exactly_the_limit(
    replicas: tuple[SessionStore, SessionStore],
) -> None:
    first, second = replicas
    answers = await asyncio.gather(
        *(
            replica.reserve_slot("alice", f"room-{n}", limit=3, lease=LEASE)
            for n, replica in enumerate((first, second) * 10)
        )
    )
    assert sum(isinstance(a, SlotReserved) for a in answers) == 3
    assert all(a == SlotRefused(live=0, pending=3) for a in answers if isinstance(a, SlotRefused))


@pytest.mark.parametrize(
    ("limit", "lease"), [(0, LEASE), (1, timedelta(0)), (1, timedelta(microseconds=999))]
)
async def test_meaningless_limits_and_leases_are_refused(
    store: SessionStore, limit: int, lease: timedelta
) -> None:
    with pytest.raises(ValueError, match="at least"):
        await store.reserve_slot("alice", "room-1", limit=limit, lease=lease)
