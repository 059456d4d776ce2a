"""The live-session cap: at most SESSION_MAX_LIVE_PER_USER live sessions a user, freed as soon as one ends.

The store's admission (both stores, atomic over replicas), then the service's 429 that says how
many are live (docs/http-api.md "Limits"). Over real replicas: test_limits_hold_across_replicas.py.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from tests.support.apps import check_error, session_path
from tests.support.constants import BASE, DETAILS, RATE_LIMITED, at_the_cap
from tests.support.guardrails import CAP, Serve, create
from tests.support.leak_guard import LeakGuard
from tests.support.livekit import unique_user_id
from tests.support.records import record
from tests.support.tokens import auth_header
from voicecore.core.store import Admitted, SessionStore, SlotRefused
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway

# --- the store's admission ------------------------------------------------------------


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


async def test_ending_a_session_frees_its_slot_in_the_store_at_once(store: SessionStore) -> None:
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


# --- the service's answer ---------------------------------------------------------------


async def test_past_the_cap_the_answer_says_how_many_are_live_and_nothing_is_made(
    capped: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway, log_leak_guard: LeakGuard
) -> None:
    headers = auth_header(unique_user_id())
    made = [await create(capped, headers) for _ in range(CAP)]
    assert [r.status_code for r in made] == [201] * CAP
    refused = await create(capped, headers)
    assert refused.status_code == 429
    check_error(refused, at_the_cap(CAP), log_leak_guard)
    assert "Retry-After" not in refused.headers  # waiting alone does not free a slot
    assert memory_gateway.room_names == {r.json()["room_name"] for r in made}


async def test_ending_a_session_frees_its_slot_at_once(capped: httpx.AsyncClient) -> None:
    headers = auth_header(unique_user_id())
    rooms = [(await create(capped, headers)).json()["room_name"] for _ in range(CAP)]
    assert (await create(capped, headers)).status_code == 429
    assert (await capped.delete(session_path(rooms[0]), headers=headers)).status_code == 200
    assert (await create(capped, headers)).status_code == 201
    assert (await create(capped, headers)).status_code == 429


async def test_rejoin_status_list_and_end_are_never_limited(serve: Serve) -> None:
    """Only starts are limited: at the cap and past the rate, the user's own session still answers."""
    headers = auth_header(unique_user_id())
    async with serve(InMemoryRoomGateway(), cap=1, per_minute=1) as client:
        room = (await create(client, headers)).json()["room_name"]
        assert (await create(client, headers)).status_code == 429  # at the cap, and past the rate
        rejoined = await client.post(f"{session_path(room)}/token", headers=headers)
        through_details = await client.post(DETAILS, json={"room_name": room}, headers=headers)
        status = await client.get(session_path(room), headers=headers)
        listed = await client.get(BASE, headers=headers)
        ended = await client.delete(session_path(room), headers=headers)
    assert [r.status_code for r in (rejoined, through_details, status, listed, ended)] == [
        200,
        201,
        200,
        200,
        200,
    ]
    assert [s["room_name"] for s in listed.json()["sessions"]] == [room]


async def test_the_cap_is_per_user(capped: httpx.AsyncClient) -> None:
    first, second = auth_header(unique_user_id()), auth_header(unique_user_id())
    for _ in range(CAP):
        await create(capped, first)
    assert (await create(capped, first)).status_code == 429
    assert (await create(capped, second)).status_code == 201


async def test_a_room_that_closed_unseen_frees_its_slot(
    capped: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The index forgets a vanished room once it is older than the grace a create in flight needs.
    monkeypatch.setattr("voicecore.core.index.INDEX_GRACE", timedelta(0))
    headers = auth_header(unique_user_id())
    rooms = [(await create(capped, headers)).json()["room_name"] for _ in range(CAP)]
    await memory_gateway.delete_room(rooms[0])  # empty_timeout, its webhook lost
    assert (await create(capped, headers)).status_code == 201


async def test_zero_turns_both_limits_off(serve: Serve, memory_gateway: InMemoryRoomGateway) -> None:
    headers = auth_header(unique_user_id())
    async with serve(memory_gateway, cap=0, per_minute=0) as client:
        answers = [await create(client, headers) for _ in range(15)]
    assert {r.status_code for r in answers} == {201}


async def test_the_token_endpoint_is_capped_and_rate_limited(
    serve: Serve, memory_gateway: InMemoryRoomGateway, log_leak_guard: LeakGuard
) -> None:
    user = unique_user_id()
    async with serve(memory_gateway, cap=1, per_minute=0) as client:
        assert (await client.post(DETAILS, json={}, headers=auth_header(user))).status_code == 201
        check_error(
            await client.post(DETAILS, json={}, headers=auth_header(user)), at_the_cap(1), log_leak_guard
        )
    async with serve(InMemoryRoomGateway(), cap=0, per_minute=1) as client:
        assert (await client.post(DETAILS, json={}, headers=auth_header(user))).status_code == 201
        limited = await client.post(DETAILS, json={}, headers=auth_header(user))
    assert (limited.status_code, limited.json()) == (429, RATE_LIMITED)
    assert int(limited.headers["Retry-After"]) >= 1
