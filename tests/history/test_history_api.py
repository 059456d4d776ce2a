"""The history over HTTP: the caller's sessions, live and ended, paged by key; one record; erasure.

On the in-process app over the in-memory gateway, with a real SQLite journal whose
database the test can take down and bring back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.apps import check_clean_body, service_container, serving
from tests.support.constants import (
    BASE,
    CONFIGURED_LIVEKIT_URL,
    NOT_FOUND,
    NOT_OWNER,
    TEST_API_KEY,
    TEST_API_SECRET,
)
from tests.support.journals import SwitchableJournal, sqlite_journal_url
from tests.support.leak_guard import LeakGuard
from tests.support.tokens import auth_header
from tests.support.waiting import eventually
from voicecore.container import JOURNAL_FLUSH_SECONDS
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway

HISTORY = f"{BASE}/history"
JOURNAL_DOWN = {"detail": "Session history is temporarily unavailable; please retry"}
BAD_CURSOR = {"detail": "Invalid request: cursor is not one this service gave you"}


def alice() -> dict[str, str]:
    """Minted at each use: a token minted at import would expire before a long run reaches this module."""
    return auth_header("auth0|alice")


def bob() -> dict[str, str]:
    return auth_header("auth0|bob")


@dataclass
class Service:
    client: httpx.AsyncClient
    journal: SwitchableJournal
    gateway: InMemoryRoomGateway


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    gateway = InMemoryRoomGateway()
    journal = SwitchableJournal(sqlite_journal_url(tmp_path))
    container = service_container(
        CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET, room_gateway=gateway, journal=journal
    )
    async with serving(container) as client:
        yield Service(client, journal, gateway)


async def start(client: httpx.AsyncClient, who: dict[str, str], agent_type: str = "workout") -> str:
    created = await client.post(BASE, json={"agent_type": agent_type}, headers=who)
    assert created.status_code == 201, created.text
    room: str = created.json()["room_name"]
    return room


async def test_history_lists_live_and_ended_sessions_newest_first(service: Service) -> None:
    client = service.client
    first = await start(client, alice(), "diet")
    second = await start(client, alice(), "workout")
    await start(client, bob())
    assert (await client.delete(f"{BASE}/{first}", headers=alice())).status_code == 200

    page = await client.get(HISTORY, headers=alice())
    assert page.status_code == 200
    body = page.json()
    assert body["next_cursor"] is None
    assert [item["room_name"] for item in body["sessions"]] == [second, first]
    live, ended = body["sessions"]
    assert (live["active"], live["ended_at"], live["end_reason"]) == (True, None, None)
    assert (ended["active"], ended["end_reason"], ended["end_approximate"]) == (False, "user_ended", False)
    assert ended["agent_type"] == "diet"
    ended_at = datetime.fromisoformat(ended["ended_at"])
    created_at = datetime.fromisoformat(ended["created_at"])
    assert ended["duration_seconds"] == pytest.approx((ended_at - created_at).total_seconds(), abs=0.001)
    assert set(live) == {
        "room_name",
        "agent_type",
        "created_at",
        "ended_at",
        "end_reason",
        "end_approximate",
        "duration_seconds",
        "agent_joined_at",
        "active",
    }


async def test_pages_follow_the_cursor_to_the_end_with_nothing_missed_or_repeated(service: Service) -> None:
    rooms = [await start(service.client, alice()) for _ in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await service.client.get(HISTORY, params=params, headers=alice())).json()
        seen += [item["room_name"] for item in page["sessions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(rooms)
    assert len(seen) == len(set(seen)) == 7


@pytest.mark.parametrize("limit", [0, 101, -1])
async def test_a_limit_out_of_range_is_refused(service: Service, limit: int) -> None:
    answer = await service.client.get(HISTORY, params={"limit": limit}, headers=alice())
    assert answer.status_code == 422


async def test_a_tampered_cursor_or_someone_elses_is_refused_and_reveals_nothing(
    service: Service, log_leak_guard: LeakGuard
) -> None:
    for _ in range(3):
        await start(service.client, bob())
    bobs = (await service.client.get(HISTORY, params={"limit": 1}, headers=bob())).json()["next_cursor"]
    assert bobs is not None
    payload, mac = bobs.split(".")
    for cursor in (bobs, f"{payload}.{mac[:-2]}AA", f"{payload[:-2]}xx.{mac}", "garbage", "a.b.c", ""):
        answer = await service.client.get(HISTORY, params={"cursor": cursor, "limit": 1}, headers=alice())
        if cursor == "":
            assert answer.status_code == 200  # an empty cursor is the first page
            continue
        assert (answer.status_code, answer.json()) == (422, BAD_CURSOR), cursor
        check_clean_body(answer.text, log_leak_guard)


async def test_history_filters_on_coach_end_reason_and_creation_time(service: Service) -> None:
    client = service.client
    diet = await start(client, alice(), "diet")
    workout = await start(client, alice(), "workout")
    await client.delete(f"{BASE}/{diet}", headers=alice())

    async def rooms(**params: str) -> list[str]:
        answer = await client.get(HISTORY, params=params, headers=alice())
        assert answer.status_code == 200, answer.text
        return [item["room_name"] for item in answer.json()["sessions"]]

    assert await rooms(agent_type="diet") == [diet]
    assert await rooms(end_reason="user_ended") == [diet]
    assert await rooms(end_reason="room_closed") == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert await rooms(since=future) == []
    assert set(await rooms(since=past, until=future)) == {diet, workout}
    for refused in ({"end_reason": "exploded"}, {"agent_type": "yoga"}, {"since": "2026-11-25T18:30:00"}):
        assert (await client.get(HISTORY, params=refused, headers=alice())).status_code == 422, refused


async def test_one_record_tells_why_an_ended_session_ended_while_status_is_404(service: Service) -> None:
    client = service.client
    room = await start(client, alice())
    await client.delete(f"{BASE}/{room}", headers=alice())
    assert (await client.get(f"{BASE}/{room}", headers=alice())).json() == NOT_FOUND
    record = await client.get(f"{HISTORY}/{room}", headers=alice())
    assert record.status_code == 200
    assert (record.json()["room_name"], record.json()["end_reason"]) == (room, "user_ended")
    assert (await client.get(f"{HISTORY}/{room}", headers=bob())).json() == NOT_OWNER
    assert (await client.get(f"{HISTORY}/{room}", headers=bob())).status_code == 403
    missing = await client.get(f"{HISTORY}/fitness-voice-auth0~7Calice-0123456789abcdef", headers=alice())
    assert (missing.status_code, missing.json()) == (404, NOT_FOUND)


async def test_erasing_takes_the_ended_records_and_keeps_the_live_one(service: Service) -> None:
    client = service.client
    ended = await start(client, alice())
    live = await start(client, alice())
    bobs = await start(client, bob())
    await client.delete(f"{BASE}/{ended}", headers=alice())
    await client.delete(f"{BASE}/{bobs}", headers=bob())

    erased = await client.delete(HISTORY, headers=alice())
    assert (erased.status_code, erased.content) == (204, b"")
    assert [i["room_name"] for i in (await client.get(HISTORY, headers=alice())).json()["sessions"]] == [live]
    assert (await client.get(f"{HISTORY}/{ended}", headers=alice())).status_code == 404
    assert (await client.get(f"{HISTORY}/{bobs}", headers=bob())).status_code == 200
    # The live session is recorded when it ends, erased or not.
    await client.delete(f"{BASE}/{live}", headers=alice())
    assert (await client.get(f"{HISTORY}/{live}", headers=alice())).json()["end_reason"] == "user_ended"


async def test_history_and_session_routes_never_shadow_each_other(service: Service) -> None:
    client = service.client
    room = await start(client, alice())
    # /history is not a room: it answers a page, and DELETE /history erases (the live room stays).
    assert "sessions" in (await client.get(HISTORY, headers=alice())).json()
    assert (await client.delete(HISTORY, headers=alice())).status_code == 204
    assert room in service.gateway.room_names
    # A room's own paths still reach the session routes.
    assert (await client.get(f"{BASE}/{room}", headers=alice())).json()["room_name"] == room
    assert (await client.post(f"{BASE}/{room}/token", headers=alice())).status_code == 200
    # And the reverse: a room named like the history path is no session, whoever asks.
    assert (await client.get(f"{BASE}/history-of-mine", headers=alice())).json() == NOT_FOUND


async def test_while_the_journal_is_down_live_sessions_work_starts_and_history_wait(
    service: Service,
) -> None:
    client = service.client
    room = await start(client, alice())
    service.journal.down = True
    rooms_before = set(service.gateway.room_names)
    refused = await client.post(BASE, json={}, headers=alice())
    assert (refused.status_code, refused.json()) == (503, JOURNAL_DOWN)
    assert set(service.gateway.room_names) == rooms_before  # no room was left behind
    assert (await client.get(HISTORY, headers=alice())).json() == JOURNAL_DOWN
    # Status, list and end of a live session keep working from the store and LiveKit.
    assert (await client.get(f"{BASE}/{room}", headers=alice())).status_code == 200
    assert [s["room_name"] for s in (await client.get(BASE, headers=alice())).json()["sessions"]] == [room]
    before = datetime.now(UTC)
    ended = await client.delete(f"{BASE}/{room}", headers=alice())
    after = datetime.now(UTC)
    assert ended.status_code == 200
    ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "journal": "unavailable"})

    service.journal.down = False
    ready = await client.get("/readyz")
    assert ready.json() == {"status": "ready", "journal": "ok"}
    # The end that happened meanwhile is recorded, with its true time, by the next flush.
    answer = await eventually(
        lambda: client.get(f"{HISTORY}/{room}", headers=alice()),
        lambda answer: answer.status_code == 200 and answer.json()["ended_at"] is not None,
        what="the end that happened meanwhile recorded by the flush loop",
        within=3 * JOURNAL_FLUSH_SECONDS + 10,
    )
    record = answer.json()
    assert record["end_reason"] == "user_ended"
    assert before <= datetime.fromisoformat(record["ended_at"]) <= after
