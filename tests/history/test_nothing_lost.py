"""Nothing lost, on the real LiveKit server and real PostgreSQL: the journal through outages and crashes.

- While PostgreSQL is stopped, a start answers 503 and leaves no room; status, list
  and end of live sessions keep working; the ends are recorded, with their true
  times, once it is back.
- A replica SIGKILLed in the middle of creates and ends leaves, after the repair
  pass of its restart, every room LiveKit has recorded and no record live whose
  room is gone.
- Two replicas on one PostgreSQL and one Redis, racing ends while LiveKit's own
  webhooks reach both: one record per session, one end each.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.support.apps import GUARDRAILS_OFF
from tests.support.constants import BASE
from tests.support.full_scan import sessions_by_full_scan
from tests.support.journals import postgres_journal_url
from tests.support.livekit import unique_user_id
from tests.support.service_process import running_replica, service_environment
from tests.support.tokens import auth_header
from tests.support.waiting import eventually
from voicecore.adapters.sql_journal import SqlSessionJournal
from voicecore.core.journal import EndReason, HistoryQuery
from voicecore.testing.livekit_server import LocalLiveKitServer, find_binary
from voicecore.testing.postgres_server import LocalPostgresServer
from voicecore.testing.processes import free_port
from voicecore.testing.redis_server import LocalRedisServer
from voicecore_http.webhooks import WEBHOOK_PATH

JOURNAL_DOWN = {"detail": "Session history is temporarily unavailable; please retry"}
WAIT_SECONDS = 30.0


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@contextlib.asynccontextmanager
async def opened(url: str) -> AsyncIterator[SqlSessionJournal]:
    """The journal, read straight from the test (not through any replica)."""
    journal = SqlSessionJournal(url)
    await journal.open()
    try:
        yield journal
    finally:
        await journal.aclose()


async def test_while_postgresql_is_down_starts_wait_live_sessions_work_and_ends_are_kept(
    livekit_server: LocalLiveKitServer,
    postgres_server: LocalPostgresServer,
    http: httpx.AsyncClient,
) -> None:
    url = postgres_journal_url(postgres_server)
    user = unique_user_id("pg-down")
    headers = auth_header(user)
    with running_replica(service_environment(livekit_server, JOURNAL_URL=url, **GUARDRAILS_OFF)) as replica:
        base = replica.base_url
        room = (await http.post(base + BASE, json={}, headers=headers)).json()["room_name"]
        postgres_server.stop()
        try:
            refused = await http.post(base + BASE, json={}, headers=headers)
            assert (refused.status_code, refused.json()) == (503, JOURNAL_DOWN)

            await eventually(
                lambda: sessions_by_full_scan(livekit_server, user),
                lambda rooms: rooms == {room},
                what="the room of the refused start removed",
                within=WAIT_SECONDS,
            )
            assert (await http.get(f"{base}{BASE}/{room}", headers=headers)).status_code == 200
            listed = (await http.get(base + BASE, headers=headers)).json()["sessions"]
            assert [s["room_name"] for s in listed] == [room]
            ready = await http.get(base + "/readyz")
            assert (ready.status_code, ready.json()) == (200, {"status": "ready", "journal": "unavailable"})
            before = datetime.now(UTC)
            assert (await http.delete(f"{base}{BASE}/{room}", headers=headers)).status_code == 200
            after = datetime.now(UTC)
        finally:
            postgres_server.start()

        answer = await eventually(
            lambda: http.get(f"{base}{BASE}/history/{room}", headers=headers),
            lambda answer: answer.status_code == 200 and answer.json()["ended_at"] is not None,
            what="the end that happened during the outage recorded",
            within=WAIT_SECONDS,
        )
        record = answer.json()
        assert record["end_reason"] == EndReason.USER_ENDED.value
        assert before <= datetime.fromisoformat(record["ended_at"]) <= after
        assert (await http.get(base + "/readyz")).json()["journal"] == "ok"


async def test_a_replica_killed_mid_creates_and_ends_leaves_every_room_recorded_and_no_false_live(
    livekit_server: LocalLiveKitServer,
    postgres_server: LocalPostgresServer,
    http: httpx.AsyncClient,
) -> None:
    url = postgres_journal_url(postgres_server)
    user = unique_user_id("killed")
    headers = auth_header(user)
    settings = service_environment(livekit_server, JOURNAL_URL=url, **GUARDRAILS_OFF)
    with running_replica(settings) as replica:
        base = replica.base_url
        made: list[str] = []

        async def create_then_end(n: int) -> None:
            created = await http.post(base + BASE, json={}, headers=headers)
            made.append(created.json()["room_name"])
            if n % 2:
                await http.delete(f"{base}{BASE}/{made[-1]}", headers=headers)

        work = [asyncio.create_task(create_then_end(n)) for n in range(40)]

        async def made_so_far() -> int:
            return len(made)

        await eventually(made_so_far, lambda count: count >= 8, what="8 sessions made before the kill")
        replica.kill()
        outcomes = await asyncio.gather(*work, return_exceptions=True)
        cut_off = [o for o in outcomes if isinstance(o, httpx.TransportError)]
        assert cut_off, "the kill cut no request off: the crash happened after the work, not in it"
        # Restarted, the replica repairs before it serves (voicecore_lifespan).
        replica.start()

    rooms = await sessions_by_full_scan(livekit_server, user)
    async with opened(url) as journal:
        assert await journal.known(sorted(rooms)) == rooms  # no session without a record
        live = {record.room_name for record in await journal.live(user)}
        assert live <= rooms  # no false live
        page = await journal.history(HistoryQuery(user, limit=100))
        assert {r.room_name for r in page} >= set(made)  # every session a caller was told of is recorded
        for record in page:
            if not record.live:
                assert record.end_reason in {EndReason.USER_ENDED, EndReason.UNOBSERVED}


@contextlib.contextmanager
def livekit_with_webhooks_to(ports: list[int]) -> Iterator[LocalLiveKitServer]:
    binary = find_binary()
    assert binary is not None, "livekit-server is not installed: run `make setup`"
    urls = [f"http://127.0.0.1:{port}{WEBHOOK_PATH}" for port in ports]
    server = LocalLiveKitServer(binary, webhook_urls=urls)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


async def test_two_replicas_racing_ends_and_webhooks_keep_one_record_and_one_end_each(
    postgres_server: LocalPostgresServer,
    empty_redis: LocalRedisServer,
    http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    url = postgres_journal_url(postgres_server)
    ports = [free_port(), free_port()]
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    user = unique_user_id("racing")
    headers = auth_header(user)
    with livekit_with_webhooks_to(ports) as livekit:
        settings = service_environment(
            livekit, JOURNAL_URL=url, SESSION_STORE_URL=empty_redis.url, **GUARDRAILS_OFF
        )
        with (
            running_replica(settings, port=ports[0], workdir=tmp_path / "one") as first,
            running_replica(settings, port=ports[1], workdir=tmp_path / "two") as second,
        ):
            rooms = [
                (await http.post(first.base_url + BASE, json={}, headers=headers)).json()["room_name"]
                for _ in range(8)
            ]
            for room in rooms:
                answers = await asyncio.gather(
                    *(
                        http.delete(f"{replica.base_url}{BASE}/{room}", headers=headers)
                        for replica in (first, second)
                    )
                )
                assert sorted(a.status_code for a in answers) == [200, 404]

            async with opened(url) as journal:
                page = await eventually(
                    lambda: journal.history(HistoryQuery(user, limit=100)),
                    lambda page: len(page) == len(rooms) and all(not r.live for r in page),
                    what="every raced session recorded as ended",
                    within=WAIT_SECONDS,
                )
                assert sorted(r.room_name for r in page) == sorted(rooms)
                # LiveKit's room_finished reached both replicas: the owner's end still stands, once.
                assert {r.end_reason for r in page} == {EndReason.USER_ENDED}
                assert all(not r.end_approximate for r in page)
