"""Idempotency-Key: the same user's retries of one start get one session, on whichever replica.

The store's keys (both stores: per user, one creator at a time, a lease, a TTL), then the
service: the same session with a fresh token, 422 for another body or a malformed key, 409
when the first takes too long (docs/http-api.md "Limits").
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest

from tests.support.apps import check_error, session_path
from tests.support.clocks import StoppedClock
from tests.support.constants import ANOTHER_BODY, BASE, DETAILS, LIVEKIT_FAILED, MALFORMED_KEY, STILL_CREATING
from tests.support.gateways import HeldGateway
from tests.support.guardrails import CAP, Serve, WatchedKeys, create, keyed
from tests.support.leak_guard import LeakGuard
from tests.support.livekit import unique_user_id
from tests.support.records import record
from tests.support.tokens import auth_header
from voicecore.core import idempotency
from voicecore.core.store import Claim, Claimed, Completed, InProgress, Mismatch, SessionStore
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway

DAY = timedelta(hours=24)
# How long a test waits for something the code does at once: only a broken machine takes longer.
WAIT_LIMIT = 30


LEASE = timedelta(seconds=30)


async def claim(store: SessionStore, holder: str, fingerprint: str = "body-1", user: str = "alice") -> Claim:
    return await store.claim_idempotency_key(
        user, "key-1", fingerprint=fingerprint, holder=holder, ttl=DAY, lease=LEASE
    )


async def finish_creating(store: SessionStore, holder: str, user: str = "alice") -> None:
    """What a caller holding the key does: record the session, then complete the key."""
    assert await store.add_session(record(holder, user))
    assert await complete(store, holder, holder, user)


async def complete(store: SessionStore, holder: str, room_name: str, user: str = "alice") -> bool:
    return await store.complete_idempotency_key(user, "key-1", holder=holder, room_name=room_name)


# --- the store's keys -------------------------------------------------------------------


async def test_the_first_claim_creates_and_repeats_get_the_same_session(store: SessionStore) -> None:
    assert await claim(store, "room-a") == Claimed()
    assert await claim(store, "room-b") == InProgress()
    assert await claim(store, "room-b", fingerprint="body-2") == Mismatch()
    await finish_creating(store, "room-a")
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
    await finish_creating(store, "room-a")
    assert await complete(store, "room-a", "room-x") is False
    assert await store.release_idempotency_key("alice", "key-1", holder="room-a") is False
    assert await claim(store, "room-c") == Completed("room-a")


async def test_a_key_whose_session_ended_can_be_reused(store: SessionStore) -> None:
    await claim(store, "room-a")
    await finish_creating(store, "room-a")
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
    await finish_creating(store, "room-a")
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


# --- the service's answers --------------------------------------------------------------


async def test_the_same_key_answers_the_same_session_with_a_fresh_token(
    capped: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    headers = keyed(unique_user_id(), str(uuid.uuid4()))
    first, again = await create(capped, headers), await create(capped, headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["room_name"] == again.json()["room_name"]
    assert memory_gateway.room_names == {first.json()["room_name"]}
    assert len(memory_gateway.dispatches_of(first.json()["room_name"])) == 1


async def test_a_retry_uses_no_slot_and_no_creation_token(
    serve: Serve, memory_gateway: InMemoryRoomGateway
) -> None:
    headers = keyed(unique_user_id(), str(uuid.uuid4()))
    async with serve(memory_gateway, cap=1, per_minute=1) as client:
        answers = [await create(client, headers) for _ in range(5)]
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["room_name"] for r in answers}) == 1


async def test_the_same_key_with_another_body_is_422(
    capped: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway, log_leak_guard: LeakGuard
) -> None:
    headers = keyed(unique_user_id(), str(uuid.uuid4()))
    assert (await create(capped, headers, "diet")).status_code == 201
    refused = await create(capped, headers, "workout")
    assert refused.status_code == 422
    check_error(refused, ANOTHER_BODY, log_leak_guard)
    assert len(memory_gateway.room_names) == 1


@pytest.mark.parametrize("key", [b"", b"k" * 256, b"tab\there", "caf\u00e9".encode()])
async def test_a_malformed_key_is_422_and_makes_nothing(
    capped: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway, log_leak_guard: LeakGuard, key: bytes
) -> None:
    headers = {**auth_header(unique_user_id()), "Idempotency-Key": key}
    refused = await capped.post(BASE, json={}, headers=headers)
    assert refused.status_code == 422
    check_error(refused, MALFORMED_KEY, log_leak_guard)
    assert memory_gateway.room_names == set()


async def test_another_users_identical_key_is_unrelated(
    capped: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    key = str(uuid.uuid4())
    mine = await create(capped, keyed(unique_user_id(), key), "diet")
    theirs = await create(capped, keyed(unique_user_id(), key), "workout")
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["room_name"] != theirs.json()["room_name"]
    assert len(memory_gateway.room_names) == 2


async def test_a_key_whose_create_failed_can_start_a_session(
    capped: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway, log_leak_guard: LeakGuard
) -> None:
    headers = keyed(unique_user_id(), str(uuid.uuid4()))
    memory_gateway.fail("create_room")
    check_error(await create(capped, headers), LIVEKIT_FAILED, log_leak_guard)
    memory_gateway.recover()
    again = await create(capped, headers)
    assert again.status_code == 201
    assert memory_gateway.room_names == {again.json()["room_name"]}


async def test_a_key_refused_at_the_cap_can_start_a_session_once_one_ends(capped: httpx.AsyncClient) -> None:
    user = unique_user_id()
    rooms = [(await create(capped, auth_header(user))).json()["room_name"] for _ in range(CAP)]
    headers = keyed(user, str(uuid.uuid4()))
    assert (await create(capped, headers)).status_code == 429
    await capped.delete(session_path(rooms[0]), headers=headers)
    assert (await create(capped, headers)).status_code == 201


async def test_a_key_whose_session_ended_starts_a_new_one(
    capped: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    headers = keyed(unique_user_id(), str(uuid.uuid4()))
    first = (await create(capped, headers)).json()["room_name"]
    assert (await capped.delete(session_path(first), headers=headers)).status_code == 200
    again = await create(capped, headers, "diet")  # any body: the key is free again
    assert again.status_code == 201
    assert again.json()["room_name"] != first
    assert memory_gateway.room_names == {again.json()["room_name"]}


async def test_a_key_whose_room_closed_unseen_starts_a_new_session(
    capped: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    headers = keyed(unique_user_id(), str(uuid.uuid4()))
    first = (await create(capped, headers)).json()["room_name"]
    await memory_gateway.delete_room(first)  # empty_timeout, its webhook lost: still indexed
    again = await create(capped, headers)
    assert again.status_code == 201
    assert again.json()["room_name"] != first
    assert memory_gateway.room_names == {again.json()["room_name"]}


async def test_a_duplicate_waits_for_the_first_and_gets_its_session(serve: Serve) -> None:
    gateway, store = HeldGateway(), WatchedKeys()
    headers = keyed(unique_user_id(), str(uuid.uuid4()))
    async with serve(gateway, store=store) as client:
        first = asyncio.ensure_future(create(client, headers))
        await gateway.entered.wait()  # the first is creating, and will until it is let go
        duplicate = asyncio.ensure_future(create(client, headers))
        await asyncio.wait_for(store.told_to_wait.wait(), WAIT_LIMIT)  # told the key is in progress
        assert not duplicate.done()  # so it waits for the first...
        gateway.release.set()
        answers = await asyncio.gather(first, duplicate)
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json()["room_name"] == answers[1].json()["room_name"]  # ...and gets its session
    assert len(gateway.room_names) == 1


async def test_a_duplicate_is_409_when_the_first_takes_too_long(
    serve: Serve, log_leak_guard: LeakGuard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "WAIT_FOR_FIRST", timedelta(seconds=0.3))
    gateway = HeldGateway()
    headers = keyed(unique_user_id(), str(uuid.uuid4()))
    async with serve(gateway) as client:
        first = asyncio.ensure_future(create(client, headers))
        await gateway.entered.wait()
        busy = await create(client, headers)
        gateway.release.set()
        made = await first
    assert busy.status_code == 409
    check_error(busy, STILL_CREATING, log_leak_guard)
    assert made.status_code == 201
    assert gateway.room_names == {made.json()["room_name"]}


async def test_the_token_endpoint_honours_the_key(
    capped: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    headers = keyed(unique_user_id(), str(uuid.uuid4()))
    answers = [await capped.post(DETAILS, json={}, headers=headers) for _ in range(3)]
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["room_name"] for a in answers}) == 1
    assert memory_gateway.room_names == {answers[0].json()["room_name"]}
    other_kind = await capped.post(DETAILS, params={"agent_type": "diet"}, json={}, headers=headers)
    assert other_kind.status_code == 422
