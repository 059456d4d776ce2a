"""The guardrails' HTTP contracts, on the in-process app over the in-memory gateway."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.support.apps import check_error, service_container, serving, session_path
from tests.support.constants import (
    BASE,
    CONFIGURED_LIVEKIT_URL,
    LIVEKIT_FAILED,
    TEST_API_KEY,
    TEST_API_SECRET,
)
from tests.support.gateways import HeldGateway
from tests.support.leak_guard import LeakGuard
from tests.support.livekit import unique_user_id
from tests.support.tokens import auth_header
from voicecore.core import idempotency
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway

DETAILS = f"{BASE}/connection-details"
CAP = 2
PER_MINUTE = 2

ANOTHER_BODY = {"detail": "Invalid request: this Idempotency-Key was used with a different request body"}
MALFORMED_KEY = {"detail": "Invalid request: Idempotency-Key must be 1 to 255 printable ASCII characters"}
STILL_CREATING = {
    "detail": "A request with this Idempotency-Key is still creating its session; retry shortly"
}
RATE_LIMITED = {
    "detail": "Too many voice sessions started in the last minute; retry after Retry-After seconds"
}


def at_the_cap(live: int) -> dict[str, str]:
    return {
        "detail": f"You have {live} live voice sessions, the most allowed at once. End one, or wait for an "
        "unused one to expire, to start another"
    }


Serve = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def serve() -> Serve:
    """The service over ``gateway`` with the guardrails as given (the test helpers turn them off)."""

    def build(gateway: InMemoryRoomGateway, **limits: int) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        container = service_container(
            CONFIGURED_LIVEKIT_URL,
            TEST_API_KEY,
            TEST_API_SECRET,
            room_gateway=gateway,
            SESSION_MAX_LIVE_PER_USER=str(limits.get("cap", CAP)),
            SESSION_CREATES_PER_MINUTE=str(limits.get("per_minute", 0)),
        )
        return serving(container)

    return build


@pytest.fixture
async def capped(serve: Serve, memory_gateway: InMemoryRoomGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(memory_gateway) as client:
        yield client


def keyed(user: str, key: str) -> dict[str, str]:
    return {**auth_header(user), "Idempotency-Key": key}


async def create(client: httpx.AsyncClient, headers: dict[str, str], kind: str = "workout") -> httpx.Response:
    return await client.post(BASE, json={"agent_type": kind}, headers=headers)


# --- the live-session cap ------------------------------------------------------------


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


# --- the creation rate -----------------------------------------------------------------


async def test_past_the_rate_the_answer_says_when_to_retry(
    serve: Serve, memory_gateway: InMemoryRoomGateway, log_leak_guard: LeakGuard
) -> None:
    headers = auth_header(unique_user_id())
    async with serve(memory_gateway, cap=0, per_minute=PER_MINUTE) as client:
        made = [await create(client, headers) for _ in range(PER_MINUTE)]
        refused = await create(client, headers)
    assert [r.status_code for r in made] == [201] * PER_MINUTE
    assert refused.status_code == 429
    check_error(refused, RATE_LIMITED, log_leak_guard)
    # The bucket refills evenly: the next start is allowed a 1/PER_MINUTE minute after the last.
    seconds_per_token = math.ceil(60 / PER_MINUTE)
    assert seconds_per_token - 1 <= int(refused.headers["Retry-After"]) <= seconds_per_token
    assert len(memory_gateway.room_names) == PER_MINUTE


async def test_the_rate_is_per_user(serve: Serve, memory_gateway: InMemoryRoomGateway) -> None:
    first, second = auth_header(unique_user_id()), auth_header(unique_user_id())
    async with serve(memory_gateway, cap=0, per_minute=1) as client:
        assert (await create(client, first)).status_code == 201
        assert (await create(client, first)).status_code == 429
        assert (await create(client, second)).status_code == 201


async def test_zero_turns_both_limits_off(serve: Serve, memory_gateway: InMemoryRoomGateway) -> None:
    headers = auth_header(unique_user_id())
    async with serve(memory_gateway, cap=0, per_minute=0) as client:
        answers = [await create(client, headers) for _ in range(15)]
    assert {r.status_code for r in answers} == {201}


# --- Idempotency-Key -------------------------------------------------------------------


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
    gateway = HeldGateway()
    headers = keyed(unique_user_id(), str(uuid.uuid4()))
    async with serve(gateway) as client:
        first = asyncio.ensure_future(create(client, headers))
        await gateway.entered.wait()
        duplicate = asyncio.ensure_future(create(client, headers))
        await asyncio.sleep(0.3)  # the duplicate is polling meanwhile
        gateway.release.set()
        answers = await asyncio.gather(first, duplicate)
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json()["room_name"] == answers[1].json()["room_name"]
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


# --- the token endpoint -------------------------------------------------------------------


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


# --- the OpenAPI document ----------------------------------------------------------------


@pytest.mark.parametrize("path", [BASE, DETAILS])
async def test_the_openapi_documents_the_limits_and_the_key(capped: httpx.AsyncClient, path: str) -> None:
    operation: dict[str, Any] = (await capped.get("/openapi.json")).json()["paths"][path]["post"]
    [key] = [p for p in operation["parameters"] if p["in"] == "header"]
    assert key["name"] == "Idempotency-Key"
    assert key["required"] is False
    assert "24 h" in key["description"]
    too_many = operation["responses"]["429"]
    assert too_many["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
    assert "SESSION_MAX_LIVE_PER_USER" in too_many["description"]
    assert "SESSION_CREATES_PER_MINUTE" in too_many["description"]
    assert "Idempotency-Key" in operation["responses"]["409"]["description"]
    assert "422" in operation["responses"]
