"""The bounds over HTTP: 402 when the minutes are used up, GET /usage, ends_at, and a user's own allowance.

On the in-process app over the in-memory gateway.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from tests.support.apps import service_container, serving
from tests.support.constants import AUTH_SECRET, BASE, CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from tests.support.journals import scratch_directory, sqlite_journal_url
from tests.support.tokens import auth_header
from voicecore.container import VoiceCoreContainer, voicecore_lifespan
from voicecore.settings import load_settings
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore_http.app import include_voice_sessions

USAGE = f"{BASE}/usage"
CLAIM = "voice_minutes"


def token_with(user: str, **claims: Any) -> dict[str, str]:
    body = {"sub": user, "exp": int(time.time()) + 600, **claims}
    return {"Authorization": f"Bearer {jwt.encode(body, AUTH_SECRET, algorithm='HS256')}"}


async def serve(**variables: str) -> Any:
    container = service_container(
        CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET, room_gateway=InMemoryRoomGateway(), **variables
    )
    return serving(container)


async def test_a_start_without_minutes_left_is_402_with_the_reset_and_creates_nothing() -> None:
    async with await serve(USAGE_LIMIT_CLAIM=CLAIM, USAGE_PERIOD="day") as client:
        refused = await client.post(BASE, json={}, headers=token_with("auth0|broke", voice_minutes=0))
        assert refused.status_code == 402
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        assert refused.json() == {
            "detail": f"You have used 0 of your 0 voice minutes; they reset at {midnight.isoformat()}"
        }
        waited = int(refused.headers["Retry-After"])
        assert 0 < waited <= (midnight - datetime.now(UTC)).total_seconds() + 1
        # Through the token endpoint too; and nothing was made either time.
        details = await client.post(
            f"{BASE}/connection-details", json={}, headers=token_with("auth0|broke", voice_minutes=0)
        )
        assert details.status_code == 402
        assert (await client.get(BASE, headers=token_with("auth0|broke"))).json() == {"sessions": []}


async def test_usage_says_what_is_used_allowed_left_and_when_it_resets() -> None:
    async with await serve(
        USAGE_LIMIT_MINUTES="30", USAGE_PERIOD="week", SESSION_MAX_LIVE_PER_USER="3"
    ) as client:
        headers = auth_header("auth0|meter")
        before = (await client.get(USAGE, headers=headers)).json()
        monday = datetime.now(UTC).date() - timedelta(days=datetime.now(UTC).weekday())
        assert before == {
            "period": "week",
            "period_start": datetime(monday.year, monday.month, monday.day, tzinfo=UTC).isoformat(),
            "period_end": (
                datetime(monday.year, monday.month, monday.day, tzinfo=UTC) + timedelta(days=7)
            ).isoformat(),
            "used_seconds": 0.0,
            "limit_seconds": 1800,
            "remaining_seconds": 1800.0,
            "live_sessions": 0,
            "max_live_sessions": 3,
        }
        created = (await client.post(BASE, json={}, headers=headers)).json()
        after = (await client.get(USAGE, headers=headers)).json()
        assert after["live_sessions"] == 1
        assert 0 <= after["used_seconds"] < 60
        assert after["remaining_seconds"] == pytest.approx(1800 - after["used_seconds"], abs=0.01)
        # ends_at: the sooner of the hour's cap and the half hour left.
        ends_at = datetime.fromisoformat(created["ends_at"])
        assert timedelta(minutes=29) < ends_at - datetime.now(UTC) <= timedelta(minutes=30)
        status = (await client.get(f"{BASE}/{created['room_name']}", headers=headers)).json()
        listed = (await client.get(BASE, headers=headers)).json()["sessions"]
        rejoined = (await client.post(f"{BASE}/{created['room_name']}/token", headers=headers)).json()
        assert status["ends_at"] == listed[0]["ends_at"] == rejoined["ends_at"] == created["ends_at"]


async def test_without_an_allowance_usage_has_no_limit_and_ends_at_is_the_cap() -> None:
    async with await serve(SESSION_MAX_DURATION_SECONDS="0") as client:
        headers = auth_header("auth0|free")
        usage = (await client.get(USAGE, headers=headers)).json()
        assert (usage["limit_seconds"], usage["remaining_seconds"], usage["max_live_sessions"]) == (
            None,
            None,
            None,
        )
        created = (await client.post(BASE, json={}, headers=headers)).json()
        assert created["ends_at"] is None  # no cap, no allowance: no bound at all


@pytest.mark.parametrize("claimed", ["30", 2.5, -1, True, [30]])
async def test_an_allowance_claim_that_is_not_whole_minutes_is_refused(claimed: object) -> None:
    async with await serve(USAGE_LIMIT_CLAIM=CLAIM) as client:
        answer = await client.post(BASE, json={}, headers=token_with("auth0|odd", voice_minutes=claimed))
        assert (answer.status_code, answer.json()) == (401, {"detail": "Not authenticated"})


async def test_a_hosts_user_carries_the_allowance_in_the_attribute_the_setting_names() -> None:
    settings = load_settings(
        {
            "LIVEKIT_URL": CONFIGURED_LIVEKIT_URL,
            "LIVEKIT_API_KEY": TEST_API_KEY,
            "LIVEKIT_API_SECRET": TEST_API_SECRET,
            "USAGE_LIMIT_CLAIM": CLAIM,
            "JOURNAL_URL": sqlite_journal_url(scratch_directory()),
        }
    )
    container = VoiceCoreContainer.from_settings(settings, room_gateway=InMemoryRoomGateway())
    host_user: dict[str, object] = {"id": "auth0|free-tier", CLAIM: 0}

    async def get_current_user() -> dict[str, object]:
        return host_user

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with voicecore_lifespan(container):
            yield

    app = FastAPI(lifespan=lifespan)
    include_voice_sessions(app, container, get_current_user=get_current_user)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://host.test") as client,
    ):
        assert (await client.post(BASE, json={})).status_code == 402  # the plan has no minutes
        host_user[CLAIM] = 10
        created = (await client.post(BASE, json={})).json()
        assert (
            timedelta(minutes=9)
            < datetime.fromisoformat(created["ends_at"]) - datetime.now(UTC)
            <= timedelta(minutes=10)
        )
        host_user[CLAIM] = "lots"  # the host's bug, not the client's: a logged server error
        broken = await client.post(BASE, json={})
        assert (broken.status_code, broken.json()) == (500, {"detail": "Internal server error"})
