"""A /metrics scrape costs the same whatever the number of live sessions, with either store (issue 23).

Cost is counted, not timed: the Python functions one scrape calls in the process
(in-process store), and the commands Redis runs for it, scripts' own included
(Redis store). Reading every session would add at least one of either per session.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

import httpx
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from tests.support.apps import service_container, serving
from tests.support.constants import CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from voicecore.core.domain import utc_now
from voicecore.core.naming import new_room_name
from voicecore.core.session_record import SessionRecord
from voicecore.core.store import SessionStore
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore.testing.redis_server import LocalRedisServer
from voicecore_http.container import ServiceContainer

LIVE_SESSIONS = 10_000
SCRAPES = 5  # the cheapest of a few: a background task may run beside any one of them
# Only start-up passes over every session: the scrape is what is counted.
QUIET = {"SESSION_RECONCILE_INTERVAL_SECONDS": "0", "AGENT_WATCHDOG_INTERVAL_SECONDS": "0"}


def container(**variables: str) -> ServiceContainer:
    return service_container(
        CONFIGURED_LIVEKIT_URL,
        TEST_API_KEY,
        TEST_API_SECRET,
        room_gateway=InMemoryRoomGateway(),
        **QUIET,
        **variables,
    )


async def add_live_sessions(store: SessionStore, count: int) -> None:
    for start in range(0, count, 100):
        records = [
            SessionRecord(new_room_name(f"member-{i}"), f"member-{i}", "workout", utc_now())
            for i in range(start, min(start + 100, count))
        ]
        assert all(await asyncio.gather(*(store.add_session(r) for r in records)))


async def scrape(client: httpx.AsyncClient) -> float:
    """The live-session gauge of one scrape."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    gauges = [
        sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "voicecore_live_sessions"
    ]
    assert len(gauges) == 1
    return gauges[0]


async def python_calls(scraped: Callable[[], Awaitable[Any]]) -> int:
    calls = 0

    def counted(frame: FrameType, event: str, arg: object) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    sys.setprofile(counted)
    try:
        await scraped()
    finally:
        sys.setprofile(None)
    return calls


async def test_a_scrape_calls_no_more_python_with_10000_live_sessions_in_process() -> None:
    service = container()
    async with serving(service) as client:
        empty = min([await python_calls(lambda: scrape(client)) for _ in range(SCRAPES)])
        assert await scrape(client) == 0
        await add_live_sessions(service.session_store(), LIVE_SESSIONS)
        filled = min([await python_calls(lambda: scrape(client)) for _ in range(SCRAPES)])
        assert await scrape(client) == LIVE_SESSIONS
    # Reading the sessions would call at least one function for each of them.
    assert filled - empty < 100, (empty, filled)


async def redis_commands(raw: aioredis.Redis, scraped: Callable[[], Awaitable[Any]]) -> int:
    """Commands Redis ran during ``scraped`` (those inside scripts too), less the INFO that reads them."""

    async def total() -> int:
        stats: dict[str, dict[str, int]] = await raw.info("commandstats")
        return sum(command["calls"] for command in stats.values())

    before = await total()
    await scraped()
    return await total() - before - 1


async def test_a_scrape_runs_no_more_redis_commands_with_10000_live_sessions(
    empty_redis: LocalRedisServer,
) -> None:
    service = container(SESSION_STORE_URL=empty_redis.url)
    raw = aioredis.Redis.from_url(empty_redis.url)
    try:
        async with serving(service) as client:
            empty = min([await redis_commands(raw, lambda: scrape(client)) for _ in range(SCRAPES)])
            await add_live_sessions(service.session_store(), LIVE_SESSIONS)
            filled = min([await redis_commands(raw, lambda: scrape(client)) for _ in range(SCRAPES)])
            assert await scrape(client) == LIVE_SESSIONS
    finally:
        await raw.aclose()
    assert filled == empty, (empty, filled)
    assert empty <= 3  # the count is one script's one command
