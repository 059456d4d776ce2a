"""Nothing lost, nothing doubled: service processes as production runs them, SIGKILLed, and side by side.

Real LiveKit, the journal on PostgreSQL (and SQLite, where one process is the
design), a real receiver verifying with ``standardwebhooks``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.support.constants import BASE
from tests.support.livekit import unique_user_id
from tests.support.service_process import ServiceProcess, service_environment
from tests.support.tokens import auth_header
from tests.support.waiting import eventually
from tests.support.webhook_receiver import Hit, Reply, WebhookReceiver
from tests.support.webhook_service import delete_every_room, webhook_settings
from voicecore.core.app_webhooks import DEFAULT_CONCURRENCY
from voicecore.testing.livekit_server import LocalLiveKitServer
from voicecore.testing.redis_server import LocalRedisServer

pytestmark = pytest.mark.livekit

STARTED = "session.started"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture
def replica_settings(
    webhook_livekit: LocalLiveKitServer, receiver: WebhookReceiver, webhook_secret: str
) -> dict[str, str]:
    # A long timeout: a held request is what the replica is killed in the middle of.
    return service_environment(
        webhook_livekit,
        **webhook_settings(receiver.url, webhook_secret, APP_WEBHOOK_TIMEOUT_SECONDS="60"),
        AGENT_WATCHDOG_INTERVAL_SECONDS="0",
        LOG_LEVEL="INFO",
    )


@pytest.fixture
async def replica(
    replica_settings: dict[str, str], journal_url: str, webhook_livekit: LocalLiveKitServer
) -> AsyncIterator[ServiceProcess]:
    process = ServiceProcess({**replica_settings, "JOURNAL_URL": journal_url})
    process.start()
    try:
        yield process
    finally:
        process.stop()
        await delete_every_room(webhook_livekit)  # none is left for the next test's start-up repair


async def start(http: httpx.AsyncClient, replica: ServiceProcess, user: str) -> str:
    created = await http.post(replica.base_url + BASE, json={"agent_type": "diet"}, headers=auth_header(user))
    assert created.status_code == 201, created.text
    return str(created.json()["room_name"])


async def end(http: httpx.AsyncClient, replica: ServiceProcess, user: str, room: str) -> None:
    ended = await http.delete(f"{replica.base_url}{BASE}/{room}", headers=auth_header(user))
    assert ended.status_code == 200, ended.text


async def test_a_replica_killed_in_the_middle_of_sends_and_before_others_delivers_all_after_restart(
    replica: ServiceProcess, receiver: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    receiver.reply = lambda _: Reply(hold=True)
    queued = 4
    rooms = [
        await start(http, replica, unique_user_id("killed")) for _ in range(DEFAULT_CONCURRENCY + queued)
    ]
    # Every send slot holds a request the receiver does not answer; the rest are committed, unsent.
    hits = await receiver.wait_for(lambda h: len(h) == DEFAULT_CONCURRENCY, what="every slot sending")
    in_the_middle = {hit.room_name for hit in hits}
    between_commit_and_send = set(rooms) - in_the_middle
    assert len(between_commit_and_send) == queued
    replica.kill()
    receiver.reply = lambda _: Reply()
    receiver.release()  # their answers go to a dead process: not acknowledged
    replica.start()
    hits = await receiver.wait_for(
        lambda h: {x.room_name for x in h if x.acknowledged} == set(rooms),
        what="every event after the restart",
    )
    assert all(hit.verified for hit in hits)
    tries = Counter(hit.room_name for hit in hits)
    assert {room: tries[room] for room in in_the_middle} == dict.fromkeys(in_the_middle, 2)  # sent again
    assert {room: tries[room] for room in between_commit_and_send} == dict.fromkeys(
        between_commit_and_send, 1
    )


@pytest.fixture
def two_replicas(
    replica_settings: dict[str, str], postgres_url: str, empty_redis: LocalRedisServer
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    settings = {**replica_settings, "JOURNAL_URL": postgres_url, "SESSION_STORE_URL": empty_redis.url}
    first, second = ServiceProcess(settings), ServiceProcess(settings)
    try:
        first.start()
        second.start()
        yield first, second
    finally:
        first.stop()
        second.stop()


async def test_two_replicas_on_one_postgresql_send_each_of_200_sessions_events_exactly_once_in_order(
    two_replicas: tuple[ServiceProcess, ServiceProcess], receiver: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    first, second = two_replicas
    limit = asyncio.Semaphore(8)

    async def one_session(n: int) -> str:
        user = unique_user_id(f"pair{n}")
        async with limit:
            room = await start(http, (first, second)[n % 2], user)
        async with limit:
            await end(http, (second, first)[n % 2], user, room)
        return room

    rooms = set(await asyncio.gather(*(one_session(n) for n in range(200))))
    hits = await receiver.wait_for(lambda h: len(h) >= 400, what="400 events", within=120)
    assert all(hit.verified for hit in hits)
    assert all(hit.acknowledged for hit in hits)
    assert {hit.room_name for hit in hits} == rooms
    assert set(Counter(hit.webhook_id for hit in hits).values()) == {1}  # exactly once
    by_room: dict[str, list[Hit]] = {}
    for hit in hits:
        by_room.setdefault(hit.room_name, []).append(hit)
    in_order = [(STARTED, 1), ("session.ended", 2)]
    out_of_order = {
        room for room, mine in by_room.items() if [(h.type, h.sequence) for h in mine] != in_order
    }
    assert not out_of_order
    sent_by = await _delivered_by(http, (first, second), total=400)
    assert all(sent_by), f"one replica sent everything: {sent_by}"


async def _delivered_by(
    http: httpx.AsyncClient, replicas: tuple[ServiceProcess, ...], *, total: int
) -> list[float]:
    """What each replica counts as delivered, once the counts add up (they follow the receiver's answers)."""

    async def counts() -> list[float]:
        found = []
        for replica in replicas:
            text = (await http.get(replica.base_url + "/metrics")).text
            found.append(
                sum(
                    float(line.rsplit(" ", 1)[1])
                    for line in text.splitlines()
                    if line.startswith("voicecore_app_events_delivered_total{")
                )
            )
        return found

    return await eventually(counts, lambda found: sum(found) == total, what=f"{total} delivered", within=30)
