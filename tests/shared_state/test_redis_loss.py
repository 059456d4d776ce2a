"""A Redis that loses its memory under running replicas: no user gets past the cap (issue 23).

Two service processes on one Redis and the real LiveKit server; 12 users create
sessions as fast as they are answered, against a cap of 3, while Redis is restarted
empty. Before the fix, each user's index was empty after the restart, and each could
start three more. Now the store admits nobody until the index has been rebuilt
from LiveKit (docs/hosting.md, "The session store"): creates answer 503 meanwhile,
and the cap counts every room LiveKit really has once they are served again.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from livekit import api

from tests.support.constants import BASE
from tests.support.livekit import rooms_of, unique_user_id
from tests.support.service_process import ServiceProcess, running_replicas, service_environment
from tests.support.tokens import auth_header
from voicecore.testing.livekit_server import LocalLiveKitServer
from voicecore.testing.redis_server import LocalRedisServer
from voicecore_http.error_table import STORE_FAILED, STORE_REBUILDING

USERS = 12
CAP = 3
LIVEKIT_TIMEOUT_SECONDS = 2  # the rebuild after a loss waits out creates in flight: this, and a second
PACE_SECONDS = 0.05  # between one user's creates: 12 users hammering, not spinning the two cores
RECOVERY_WITHIN_SECONDS = 60.0


@pytest.fixture
def replicas(
    livekit_server: LocalLiveKitServer, empty_redis: LocalRedisServer
) -> Iterator[list[ServiceProcess]]:
    settings = service_environment(
        livekit_server,
        SESSION_STORE_URL=empty_redis.url,
        SESSION_MAX_LIVE_PER_USER=str(CAP),
        SESSION_CREATES_PER_MINUTE="0",
        # No periodic repair: only the creates themselves find the loss and have the index rebuilt.
        SESSION_RECONCILE_INTERVAL_SECONDS="0",
        LIVEKIT_TIMEOUT_SECONDS=str(LIVEKIT_TIMEOUT_SECONDS),
    )
    with running_replicas(settings, settings) as services:
        yield services


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


class User:
    """One user creating sessions on both replicas in turn; every answer kept."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.headers = auth_header(name)
        self.answers: list[tuple[float, int, str]] = []  # (when, status, detail)

    async def create(self, http: httpx.AsyncClient, replica: ServiceProcess) -> int:
        response = await http.post(replica.base_url + BASE, json={}, headers=self.headers)
        detail = "" if response.status_code == 201 else str(response.json().get("detail"))
        self.answers.append((time.monotonic(), response.status_code, detail))
        return response.status_code

    def refused_at_the_cap_since(self, moment: float) -> bool:
        return any(at > moment and status == 429 for at, status, _ in self.answers)


async def keep_creating(
    user: User, http: httpx.AsyncClient, replicas: list[ServiceProcess], until: asyncio.Event
) -> None:
    turn = 0
    while not until.is_set():
        await user.create(http, replicas[turn % len(replicas)])
        turn += 1
        await asyncio.sleep(PACE_SECONDS)


async def test_a_redis_restarted_empty_under_concurrent_creates_lets_no_user_past_the_cap(
    replicas: list[ServiceProcess], empty_redis: LocalRedisServer, http: httpx.AsyncClient, lk: api.LiveKitAPI
) -> None:
    users = [User(unique_user_id(f"loss{i}")) for i in range(USERS)]
    stop = asyncio.Event()
    loops = [asyncio.create_task(keep_creating(user, http, replicas, stop)) for user in users]
    try:
        deadline = time.monotonic() + RECOVERY_WITHIN_SECONDS
        while not all(user.refused_at_the_cap_since(0) for user in users):  # everyone at the cap
            assert time.monotonic() < deadline, "the users never reached the cap"
            await asyncio.sleep(PACE_SECONDS)
        empty_redis.stop()
        empty_redis.start()
        restarted = time.monotonic()
        # Served again, each user is refused at the cap again: LiveKit's rooms are counted.
        while not all(user.refused_at_the_cap_since(restarted) for user in users):
            assert time.monotonic() < restarted + RECOVERY_WITHIN_SECONDS, "creates never recovered"
            await asyncio.sleep(PACE_SECONDS)
    finally:
        stop.set()
        await asyncio.gather(*loops)

    for user in users:
        assert len(await rooms_of(lk, user.name)) <= CAP, user.name
    answers = Counter((status, detail) for user in users for _, status, detail in user.answers)
    assert {status for status, _ in answers} <= {201, 429, 503}, answers
    assert {detail for status, detail in answers if status == 503} <= {
        STORE_FAILED.detail,
        STORE_REBUILDING.detail,
    }
    # The loss was seen: starts were held back while the index was rebuilt.
    assert answers[(503, STORE_REBUILDING.detail)] > 0, answers
