"""The guardrails on the real LiveKit server: two replicas on one real Redis, and one on its own store."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.support.constants import BASE
from tests.support.full_scan import sessions_by_full_scan
from tests.support.livekit import unique_user_id
from tests.support.service_process import (
    ServiceProcess,
    running_replica,
    running_replicas,
    service_environment,
)
from tests.support.tokens import auth_header
from voicecore.adapters.livekit import LiveKitRoomGateway
from voicecore.testing.livekit_server import LocalLiveKitServer
from voicecore.testing.redis_server import LocalRedisServer

CAP = 3
CONCURRENT = 20
AGENT = "guardrail-coach"  # no worker takes it: the dispatch is only counted
# The cap, not the rate, is what these tests are about: the rate is on, but never reached.
LIMITS = {
    "SESSION_MAX_LIVE_PER_USER": str(CAP),
    "SESSION_CREATES_PER_MINUTE": "1000",
    "LIVEKIT_AGENT_NAME": AGENT,
}


@pytest.fixture(scope="module")
def two_replicas(
    livekit_server: LocalLiveKitServer, redis_server: LocalRedisServer
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    if not redis_server.running:  # another test may have stopped it
        redis_server.start()
    settings = service_environment(livekit_server, SESSION_STORE_URL=redis_server.url, **LIMITS)
    with running_replicas(settings, settings) as (first, second):
        yield first, second


@pytest.fixture(scope="module")
def lone_replica(livekit_server: LocalLiveKitServer) -> Iterator[ServiceProcess]:
    with running_replica(service_environment(livekit_server, **LIMITS)) as replica:
        yield replica


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


def spread(replicas: tuple[ServiceProcess, ...], count: int) -> list[ServiceProcess]:
    return [replicas[i % len(replicas)] for i in range(count)]


async def cap_holds_under_concurrency(
    http: httpx.AsyncClient, replicas: tuple[ServiceProcess, ...], livekit_server: LocalLiveKitServer
) -> None:
    user = unique_user_id("cap")
    headers = auth_header(user)
    answers = await asyncio.gather(
        *(http.post(r.base_url + BASE, json={}, headers=headers) for r in spread(replicas, CONCURRENT))
    )
    assert Counter(a.status_code for a in answers) == {201: CAP, 429: CONCURRENT - CAP}
    refusals = {a.json()["detail"] for a in answers if a.status_code == 429}
    assert refusals == {
        f"You have {CAP} live voice sessions, the most allowed at once. End one, or wait for an unused one "
        "to expire, to start another"
    }
    made = {a.json()["room_name"] for a in answers if a.status_code == 201}
    assert await sessions_by_full_scan(livekit_server, user) == made

    # Ending one frees its slot at once, on whichever replica ends it.
    ended = sorted(made)[0]
    deleted = await http.delete(f"{replicas[-1].base_url}{BASE}/{ended}", headers=headers)
    assert deleted.status_code == 200
    again = await http.post(replicas[0].base_url + BASE, json={}, headers=headers)
    assert again.status_code == 201
    assert (await http.post(replicas[-1].base_url + BASE, json={}, headers=headers)).status_code == 429
    assert await sessions_by_full_scan(livekit_server, user) == made - {ended} | {again.json()["room_name"]}


async def test_twenty_concurrent_creates_over_two_replicas_on_redis_give_exactly_the_cap(
    two_replicas: tuple[ServiceProcess, ServiceProcess],
    http: httpx.AsyncClient,
    livekit_server: LocalLiveKitServer,
) -> None:
    await cap_holds_under_concurrency(http, two_replicas, livekit_server)


async def test_twenty_concurrent_creates_on_one_replica_with_its_own_store_give_exactly_the_cap(
    lone_replica: ServiceProcess, http: httpx.AsyncClient, livekit_server: LocalLiveKitServer
) -> None:
    await cap_holds_under_concurrency(http, (lone_replica,), livekit_server)


@pytest.mark.parametrize("endpoint", [BASE, f"{BASE}/connection-details"])
async def test_concurrent_duplicates_over_two_replicas_make_one_room_and_one_dispatch(
    two_replicas: tuple[ServiceProcess, ServiceProcess],
    http: httpx.AsyncClient,
    livekit_server: LocalLiveKitServer,
    livekit_gateway: LiveKitRoomGateway,
    endpoint: str,
) -> None:
    user = unique_user_id("dup")
    headers = {**auth_header(user), "Idempotency-Key": str(uuid.uuid4())}
    answers = await asyncio.gather(
        *(http.post(r.base_url + endpoint, json={}, headers=headers) for r in spread(two_replicas, 8))
    )
    # The others wait for the first; a 409 only if it took too long (never more than one room either way).
    assert {a.status_code for a in answers} <= {201, 409}
    rooms = {a.json()["room_name"] for a in answers if a.status_code == 201}
    assert len(rooms) == 1
    assert await sessions_by_full_scan(livekit_server, user) == rooms
    [room] = rooms
    dispatches = await livekit_gateway.list_agent_dispatches(room)
    assert [d.agent_name for d in dispatches] == [AGENT]
