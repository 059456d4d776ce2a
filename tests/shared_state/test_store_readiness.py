"""/readyz follows the session store (issue 23): 503 while Redis is down or hung, within a bounded check.

A load balancer routes on /readyz: a replica whose store cannot serve would fail every
session call, so it is not ready then; it is ready again as soon as the store answers.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.apps import service_container, serving
from tests.support.constants import BASE, CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from tests.support.tokens import auth_header
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore.testing.redis_server import LocalRedisServer
from voicecore_http.error_table import STORE_UNREACHABLE
from voicecore_http.health import CHECK_SECONDS

READY = {"status": "ready", "journal": "ok"}
NOT_READY = {"detail": STORE_UNREACHABLE}
# The probe's bound, and time for the rest of the request on a busy machine.
ANSWERED_WITHIN_SECONDS = CHECK_SECONDS + 1.5


@pytest.fixture
async def client(empty_redis: LocalRedisServer) -> AsyncIterator[httpx.AsyncClient]:
    container = service_container(
        CONFIGURED_LIVEKIT_URL,
        TEST_API_KEY,
        TEST_API_SECRET,
        room_gateway=InMemoryRoomGateway(),
        SESSION_STORE_URL=empty_redis.url,
    )
    async with serving(container) as client:
        yield client


async def timed_readiness(client: httpx.AsyncClient) -> tuple[float, httpx.Response]:
    began = time.monotonic()
    response = await client.get("/readyz")
    return time.monotonic() - began, response


async def test_readyz_is_503_while_redis_is_stopped_and_200_once_it_is_back(
    client: httpx.AsyncClient, empty_redis: LocalRedisServer
) -> None:
    assert (await client.get("/readyz")).json() == READY
    empty_redis.stop()
    took, response = await timed_readiness(client)
    assert (response.status_code, response.json()) == (503, NOT_READY)
    assert took < ANSWERED_WITHIN_SECONDS
    # What a load balancer is spared: every session call fails too meanwhile.
    assert (await client.get(BASE, headers=auth_header("alice"))).status_code == 503
    empty_redis.start()
    response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (200, READY)


async def test_readyz_is_503_within_its_bound_while_redis_hangs(
    client: httpx.AsyncClient, empty_redis: LocalRedisServer
) -> None:
    assert (await client.get("/readyz")).json() == READY
    empty_redis.pause()
    try:
        took, response = await timed_readiness(client)
    finally:
        empty_redis.resume()
    assert (response.status_code, response.json()) == (503, NOT_READY)
    assert took < ANSWERED_WITHIN_SECONDS
    response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (200, READY)
