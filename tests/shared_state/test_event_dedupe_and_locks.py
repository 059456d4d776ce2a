"""Contract, both stores: webhook event dedupe, and the lock with a lease for one-at-a-time work."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.support.clocks import StoppedClock
from voicecore.core.store import SessionStore

TTL = timedelta(hours=1)
LEASE = timedelta(seconds=60)


async def test_an_event_is_new_once_within_its_ttl(store: SessionStore, clock: StoppedClock) -> None:
    assert await store.first_sighting("EV_1", ttl=TTL) is True
    assert await store.first_sighting("EV_1", ttl=TTL) is False
    assert await store.first_sighting("EV_2", ttl=TTL) is True
    clock.advance(TTL - timedelta(milliseconds=1))
    assert await store.first_sighting("EV_1", ttl=TTL) is False
    clock.advance(timedelta(milliseconds=1))
    assert await store.first_sighting("EV_1", ttl=TTL) is True


async def test_one_event_delivered_to_both_replicas_at_once_is_handled_once(
    replicas: tuple[SessionStore, SessionStore],
) -> None:
    first, second = replicas
    seen = await asyncio.gather(*(r.first_sighting("EV_dup", ttl=TTL) for r in (first, second) * 10))
    assert seen.count(True) == 1


async def test_only_one_owner_holds_the_lock_and_only_the_owner_releases_it(store: SessionStore) -> None:
    assert await store.acquire_lock("reconcile", "replica-a", lease=LEASE) is True
    assert await store.acquire_lock("reconcile", "replica-b", lease=LEASE) is False
    assert await store.acquire_lock("other-job", "replica-b", lease=LEASE) is True
    assert await store.release_lock("reconcile", "replica-b") is False
    assert await store.acquire_lock("reconcile", "replica-b", lease=LEASE) is False
    assert await store.release_lock("reconcile", "replica-a") is True
    assert await store.release_lock("reconcile", "replica-a") is False
    assert await store.acquire_lock("reconcile", "replica-b", lease=LEASE) is True


async def test_the_owner_renews_its_lease_by_acquiring_again(
    store: SessionStore, clock: StoppedClock
) -> None:
    await store.acquire_lock("reconcile", "replica-a", lease=LEASE)
    clock.advance(timedelta(seconds=50))
    assert await store.acquire_lock("reconcile", "replica-a", lease=LEASE) is True
    clock.advance(timedelta(seconds=50))  # past the first lease, within the renewed one
    assert await store.acquire_lock("reconcile", "replica-b", lease=LEASE) is False


async def test_a_lapsed_lease_passes_the_lock_on_and_the_old_owner_cannot_release_it(
    store: SessionStore, clock: StoppedClock
) -> None:
    await store.acquire_lock("reconcile", "replica-a", lease=LEASE)
    clock.advance(LEASE)
    assert await store.acquire_lock("reconcile", "replica-b", lease=LEASE) is True
    assert await store.release_lock("reconcile", "replica-a") is False
    assert await store.acquire_lock("reconcile", "replica-c", lease=LEASE) is False


async def test_an_owner_whose_lease_lapsed_is_told_it_no_longer_held_it(
    store: SessionStore, clock: StoppedClock
) -> None:
    await store.acquire_lock("reconcile", "replica-a", lease=LEASE)
    clock.advance(LEASE)
    assert await store.release_lock("reconcile", "replica-a") is False
    assert await store.acquire_lock("reconcile", "replica-b", lease=LEASE) is True


async def test_concurrent_acquires_over_two_replicas_give_the_lock_to_one(
    replicas: tuple[SessionStore, SessionStore],
) -> None:
    first, second = replicas
    got = await asyncio.gather(
        *(r.acquire_lock("reconcile", f"owner-{n}", lease=LEASE) for n, r in enumerate((first, second) * 10))
    )
    assert got.count(True) == 1
