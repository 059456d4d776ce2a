"""Contract, both stores: idempotency keys, scoped per user, with one creator at a time."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.support.clocks import StoppedClock
from tests.support.records import record
from voicecore.core.store import Claim, Claimed, Completed, InProgress, Mismatch, SessionStore

DAY = timedelta(hours=24)
LEASE = timedelta(seconds=30)


async def claim(store: SessionStore, holder: str, fingerprint: str = "body-1", user: str = "alice") -> Claim:
    return await store.claim_idempotency_key(
        user, "key-1", fingerprint=fingerprint, holder=holder, ttl=DAY, lease=LEASE
    )


async def create(store: SessionStore, holder: str, user: str = "alice") -> None:
    """What a caller holding the key does: record the session, then complete the key."""
    assert await store.add_session(record(holder, user))
    assert await complete(store, holder, holder, user)


async def complete(store: SessionStore, holder: str, room_name: str, user: str = "alice") -> bool:
    return await store.complete_idempotency_key(user, "key-1", holder=holder, room_name=room_name)


async def test_the_first_claim_creates_and_repeats_get_the_same_session(store: SessionStore) -> None:
    assert await claim(store, "room-a") == Claimed()
    assert await claim(store, "room-b") == InProgress()
    assert await claim(store, "room-b", fingerprint="body-2") == Mismatch()
    await create(store, "room-a")
    assert await claim(store, "room-c") == Completed("room-a")
    assert await claim(store, "room-c", fingerprint="body-2") == Mismatch()


async def test_keys_are_scoped_per_user(store: SessionStore) -> None:
    assert await claim(store, "room-a", user="alice") == Claimed()
    assert await claim(store, "room-b", user="bob", fingerprint="other") == Claimed()
    assert await store.complete_idempotency_key("bob", "key-1", holder="room-a", room_name="room-a") is False


async def test_a_holder_claiming_again_still_holds(store: SessionStore) -> None:
    assert await claim(store, "room-a") == Claimed()
    assert await claim(store, "room-a") == Claimed()


async def test_a_released_key_can_be_claimed_anew_with_any_body(store: SessionStore) -> None:
    await claim(store, "room-a")
    assert await store.release_idempotency_key("alice", "key-1", holder="room-b") is False
    assert await store.release_idempotency_key("alice", "key-1", holder="room-a") is True
    assert await store.release_idempotency_key("alice", "key-1", holder="room-a") is False
    assert await claim(store, "room-b", fingerprint="body-2") == Claimed()


async def test_only_the_holder_completes_and_only_once(store: SessionStore) -> None:
    await claim(store, "room-a")
    assert await complete(store, "room-b", "room-b") is False
    await create(store, "room-a")
    assert await complete(store, "room-a", "room-x") is False
    assert await store.release_idempotency_key("alice", "key-1", holder="room-a") is False
    assert await claim(store, "room-c") == Completed("room-a")


async def test_a_key_whose_session_ended_can_be_reused(store: SessionStore) -> None:
    await claim(store, "room-a")
    await create(store, "room-a")
    await store.remove_session("room-a")
    assert await claim(store, "room-b", fingerprint="body-2") == Claimed()
    assert await claim(store, "room-c", fingerprint="body-2") == InProgress()


async def test_a_claim_whose_holder_vanished_lapses_after_its_lease(
    store: SessionStore, clock: StoppedClock
) -> None:
    await claim(store, "room-a")
    clock.advance(LEASE - timedelta(milliseconds=1))
    assert await claim(store, "room-b") == InProgress()
    clock.advance(timedelta(milliseconds=1))
    assert await claim(store, "room-b") == Claimed()
    # The lapsed holder can no longer complete: the key is someone else's now.
    assert await complete(store, "room-a", "room-a") is False
    assert await complete(store, "room-b", "room-b") is True


async def test_a_key_is_forgotten_after_its_ttl(store: SessionStore, clock: StoppedClock) -> None:
    await claim(store, "room-a")
    await create(store, "room-a")
    clock.advance(DAY - timedelta(milliseconds=1))
    assert await claim(store, "room-b", fingerprint="body-2") == Mismatch()
    clock.advance(timedelta(milliseconds=1))
    assert await claim(store, "room-b", fingerprint="body-2") == Claimed()


async def test_keys_with_separators_do_not_collide(store: SessionStore) -> None:
    ttl = {"ttl": DAY, "lease": LEASE}
    assert await store.claim_idempotency_key("a:b", "c", fingerprint="1", holder="h1", **ttl) == Claimed()
    assert await store.claim_idempotency_key("a", "b:c", fingerprint="2", holder="h2", **ttl) == Claimed()


async def test_concurrent_duplicates_over_two_replicas_make_one_creator(
    replicas: tuple[SessionStore, SessionStore],
) -> None:
    first, second = replicas
    answers = await asyncio.gather(
        *(claim(replica, f"room-{n}") for n, replica in enumerate((first, second) * 10))
    )
    assert answers.count(Claimed()) == 1
    assert answers.count(InProgress()) == 19


async def test_completing_with_no_room_is_refused(store: SessionStore) -> None:
    await claim(store, "room-a")
    with pytest.raises(ValueError, match="room_name"):
        await store.complete_idempotency_key("alice", "key-1", holder="room-a", room_name="")
