"""Two service processes on one Redis and one LiveKit server: one shared state."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.support.constants import BASE
from tests.support.livekit import eventually, sessions_by_full_scan, unique_user_id
from tests.support.service_process import ServiceProcess, running_replica, service_environment
from tests.support.tokens import auth_header
from voicecore.testing.livekit_server import LocalLiveKitServer
from voicecore.testing.redis_server import LocalRedisServer

RECONCILE_EVERY = 1.0  # seconds: short, so a test sees the next pass


@pytest.fixture
def replicas(
    livekit_server: LocalLiveKitServer, empty_redis: LocalRedisServer
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    settings = service_environment(
        livekit_server,
        SESSION_STORE_URL=empty_redis.url,
        SESSION_RECONCILE_INTERVAL_SECONDS=str(RECONCILE_EVERY),
    )
    with running_replica(settings) as first, running_replica(settings) as second:
        yield first, second


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


async def listed(http: httpx.AsyncClient, replica: ServiceProcess, headers: dict[str, str]) -> set[str]:
    response = await http.get(replica.base_url + BASE, headers=headers)
    assert response.status_code == 200, response.text
    return {item["room_name"] for item in response.json()["sessions"]}


async def test_a_session_made_on_one_replica_is_listed_queried_and_ended_on_the_other(
    replicas: tuple[ServiceProcess, ServiceProcess], http: httpx.AsyncClient
) -> None:
    first, second = replicas
    headers = auth_header(unique_user_id("replicas"))
    created = await http.post(first.base_url + BASE, json={"agent_type": "diet"}, headers=headers)
    assert created.status_code == 201
    room = created.json()["room_name"]
    assert await listed(http, second, headers) == {room}
    status = await http.get(f"{second.base_url}{BASE}/{room}", headers=headers)
    assert (status.status_code, status.json()["participant_count"]) == (200, 0)
    ended = await http.delete(f"{second.base_url}{BASE}/{room}", headers=headers)
    assert ended.json() == {"status": "ended", "room_name": room}
    assert await listed(http, first, headers) == set()


@pytest.mark.parametrize("round_", range(3))
async def test_racing_ends_over_both_replicas_give_exactly_one_200(
    replicas: tuple[ServiceProcess, ServiceProcess], http: httpx.AsyncClient, round_: int
) -> None:
    headers = auth_header(unique_user_id(f"race{round_}"))
    room = (await http.post(replicas[0].base_url + BASE, json={}, headers=headers)).json()["room_name"]
    answers = await asyncio.gather(
        *(http.delete(f"{replicas[i % 2].base_url}{BASE}/{room}", headers=headers) for i in range(20))
    )
    assert Counter(a.status_code for a in answers) == {200: 1, 404: 19}


async def test_a_replica_killed_mid_request_loses_nothing(
    replicas: tuple[ServiceProcess, ServiceProcess],
    http: httpx.AsyncClient,
    livekit_server: LocalLiveKitServer,
) -> None:
    first, second = replicas
    user = unique_user_id("killed")
    headers = auth_header(user)

    async def create(replica: ServiceProcess) -> httpx.Response | None:
        try:
            return await http.post(replica.base_url + BASE, json={}, headers=headers)
        except httpx.TransportError:
            return None  # the replica died under this request

    creates = [asyncio.ensure_future(create(replicas[i % 2])) for i in range(12)]
    await asyncio.sleep(0.05)
    await asyncio.to_thread(first.kill)
    answers = await asyncio.gather(*creates)
    confirmed = {a.json()["room_name"] for a in answers if a is not None and a.status_code == 201}
    assert confirmed  # the other replica kept serving
    # Every session a client was told about is listed by the survivor, and once its
    # next index repair has run, the listing is exactly what LiveKit holds for the user.
    assert confirmed <= await listed(http, second, headers)
    truth = await sessions_by_full_scan(livekit_server, user)
    settled = await eventually(lambda: listed(http, second, headers), lambda names: names == truth, within=5)
    assert settled == truth


async def test_redis_emptied_by_a_restart_is_repaired_by_one_index_pass(
    replicas: tuple[ServiceProcess, ServiceProcess],
    http: httpx.AsyncClient,
    empty_redis: LocalRedisServer,
    livekit_server: LocalLiveKitServer,
) -> None:
    first, second = replicas
    user = unique_user_id("redis-restart")
    headers = auth_header(user)
    made = {
        (await http.post(first.base_url + BASE, json={}, headers=headers)).json()["room_name"]
        for _ in range(3)
    }
    await asyncio.to_thread(empty_redis.stop)
    down = await http.get(second.base_url + BASE, headers=headers)
    assert (down.status_code, down.json()) == (
        503,
        {"detail": "Session state is temporarily unavailable; please retry"},
    )
    await asyncio.to_thread(empty_redis.start)  # empty: nothing was persisted
    repaired = await eventually(lambda: listed(http, second, headers), lambda names: names == made, within=5)
    assert repaired == made == await sessions_by_full_scan(livekit_server, user)


async def test_a_restarted_replica_lists_what_the_others_made(
    replicas: tuple[ServiceProcess, ServiceProcess], http: httpx.AsyncClient
) -> None:
    first, second = replicas
    headers = auth_header(unique_user_id("restart"))
    room = (await http.post(first.base_url + BASE, json={}, headers=headers)).json()["room_name"]
    await asyncio.to_thread(second.kill)
    await asyncio.to_thread(second.start)
    assert await listed(http, second, headers) == {room}
