"""Two service processes on one Redis and one LiveKit server: one shared state."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.support.apps import GUARDRAILS_OFF
from tests.support.constants import BASE
from tests.support.fault_proxy import Fault, FaultProxy
from tests.support.full_scan import sessions_by_full_scan
from tests.support.livekit import unique_user_id
from tests.support.service_process import ServiceProcess, running_replicas, service_environment
from tests.support.tokens import auth_header
from tests.support.waiting import eventually
from voicecore.testing.livekit_server import LocalLiveKitServer
from voicecore.testing.redis_server import LocalRedisServer

RECONCILE_EVERY = 1.0  # seconds: short, so a test sees the next pass
IN_FLIGHT = 6  # creates sent to each replica at once


@pytest.fixture
def replicas(
    livekit_server: LocalLiveKitServer, empty_redis: LocalRedisServer
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    settings = service_environment(
        livekit_server,
        SESSION_STORE_URL=empty_redis.url,
        SESSION_RECONCILE_INTERVAL_SECONDS=str(RECONCILE_EVERY),
    )
    with running_replicas(settings, settings) as (first, second):
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
    livekit_server: LocalLiveKitServer, empty_redis: LocalRedisServer, http: httpx.AsyncClient
) -> None:
    """A replica dies with creates in flight: LiveKit made their rooms, and no client heard back.

    The doomed replica reaches LiveKit through a proxy that holds every CreateRoom answer, so its
    creates are certainly in flight when it is killed. The other replica serves throughout, and
    its listing ends up exactly what LiveKit holds: the sessions it confirmed and the ones the
    doomed replica made but never answered.
    """
    user = unique_user_id("killed")
    headers = auth_header(user)
    settings = service_environment(
        livekit_server,
        SESSION_STORE_URL=empty_redis.url,
        SESSION_RECONCILE_INTERVAL_SECONDS=str(RECONCILE_EVERY),
        **GUARDRAILS_OFF,  # every create of the one user is admitted: this is about a dying replica
    )
    proxy = FaultProxy(livekit_server.http_port)
    await proxy.start()
    # Its own LiveKit timeout must not end the held creates (and clean up) before it dies.
    doomed_settings = {**settings, "LIVEKIT_URL": proxy.url, "LIVEKIT_TIMEOUT_SECONDS": "60"}
    replicas = contextlib.ExitStack()
    try:
        # Started from a thread: the doomed one's start-up reaches LiveKit through the proxy,
        # which runs on this event loop.
        doomed, survivor = await asyncio.to_thread(
            replicas.enter_context, running_replicas(doomed_settings, settings)
        )
        proxy.set(Fault.SLOW, only=frozenset({"CreateRoom"}), delay=600)

        async def create(replica: ServiceProcess) -> httpx.Response | None:
            try:
                return await http.post(replica.base_url + BASE, json={}, headers=headers)
            except httpx.TransportError:
                return None  # the replica died under this request

        async def asked_of_livekit() -> set[str]:
            return {name for method, name in proxy.room_names if method == "CreateRoom"}

        in_flight = [asyncio.ensure_future(create(doomed)) for _ in range(IN_FLIGHT)]
        served = [asyncio.ensure_future(create(survivor)) for _ in range(IN_FLIGHT)]
        made_unanswered = await eventually(
            asked_of_livekit,
            lambda names: len(names) == IN_FLIGHT,
            what=f"the doomed replica's {IN_FLIGHT} creates to reach LiveKit",
        )
        await asyncio.to_thread(doomed.kill)
        cut_off = await asyncio.gather(*in_flight)
        answers = await asyncio.gather(*served)
        assert cut_off == [None] * IN_FLIGHT  # every one was cut off mid-request
        assert [a.status_code if a is not None else None for a in answers] == [201] * IN_FLIGHT
        confirmed = {a.json()["room_name"] for a in answers if a is not None}

        # LiveKit holds exactly what was asked of it: nothing lost, nothing extra.
        truth = confirmed | made_unanswered
        await eventually(
            lambda: sessions_by_full_scan(livekit_server, user),
            lambda names: names == truth,
            what="LiveKit to hold the rooms of every create, answered or not",
        )
        # Every session a client was told about is listed by the survivor at once, and the
        # listing settles on exactly what LiveKit holds for the user.
        assert confirmed <= await listed(http, survivor, headers)
        await eventually(
            lambda: listed(http, survivor, headers),
            lambda names: names == truth,
            what="the survivor's listing to be exactly what LiveKit holds",
            within=30,
        )
    finally:
        await asyncio.to_thread(replicas.close)
        await proxy.aclose()


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
    await eventually(
        lambda: listed(http, second, headers),
        lambda names: names == made,
        what="one index pass to list again what Redis forgot",
        within=30,
    )
    assert made == await sessions_by_full_scan(livekit_server, user)


async def test_a_restarted_replica_lists_what_the_others_made(
    replicas: tuple[ServiceProcess, ServiceProcess], http: httpx.AsyncClient
) -> None:
    first, second = replicas
    headers = auth_header(unique_user_id("restart"))
    room = (await http.post(first.base_url + BASE, json={}, headers=headers)).json()["room_name"]
    await asyncio.to_thread(second.kill)
    await asyncio.to_thread(second.start)
    assert await listed(http, second, headers) == {room}
