"""The standalone service with app webhooks on, in-process, over real LiveKit and a journal of the test's.

Built through the one composition root (``service_container``), with a compressed
retry schedule and a short timeout, so a test sees every try of an event.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

import httpx
from livekit import api
from prometheus_client.parser import text_string_to_metric_families

from tests.support.apps import service_container, serving
from tests.support.constants import BASE
from tests.support.livekit import unique_user_id
from tests.support.tokens import auth_header
from tests.support.waiting import eventually
from voicecore.testing.livekit_server import LocalLiveKitServer
from voicecore_http.container import ServiceContainer

# Long enough that a loaded machine never times a healthy receiver out (a timeout is a fault:
# the event is sent again); the timeout test sets its own.
TIMEOUT_SECONDS = "10"
# Five tries, a fifth of a second apart: a test sees an event's whole life in about a second.
SCHEDULE = "0,0.2,0.2,0.2,0.2"
TRIES = len(SCHEDULE.split(","))

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def webhook_settings(url: str, secret: str, **variables: str) -> dict[str, str]:
    return {
        "APP_WEBHOOK_URL": url,
        "APP_WEBHOOK_SECRET": secret,
        "APP_WEBHOOK_TIMEOUT_SECONDS": TIMEOUT_SECONDS,
        "APP_WEBHOOK_RETRY_SCHEDULE_SECONDS": SCHEDULE,
        **variables,
    }


@dataclass
class WebhookService:
    container: ServiceContainer
    client: httpx.AsyncClient

    async def start_session(self, user_id: str | None = None) -> tuple[str, str]:
        """A new session of ``user_id`` (a fresh user if None): (user_id, room_name)."""
        user = user_id or unique_user_id("hooks")
        created = await self.client.post(BASE, json={"agent_type": "workout"}, headers=auth_header(user))
        assert created.status_code == 201, created.text
        return user, str(created.json()["room_name"])

    async def end_session(self, user_id: str, room_name: str) -> None:
        ended = await self.client.delete(f"{BASE}/{room_name}", headers=auth_header(user_id))
        assert ended.status_code == 200, ended.text

    async def scrape(self) -> Samples:
        response = await self.client.get("/metrics")
        assert response.status_code == 200
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }

    async def metric(self, name: str, **labels: str) -> float:
        return (await self.scrape()).get((name, frozenset(labels.items())), 0.0)

    async def wait_for_metric(
        self, name: str, accept: Callable[[float], bool], *, within: float = 30.0, **labels: str
    ) -> float:
        """Until the metric's value is accepted; raises ``WaitTimedOut`` after ``within`` seconds."""
        return await eventually(
            lambda: self.metric(name, **labels), accept, what=f"{name}{labels}", within=within, every=0.05
        )


async def delete_every_room(livekit: LocalLiveKitServer) -> None:
    """Empty a LiveKit server the app-webhook tests own (a test's rooms are not the next one's)."""
    async with api.LiveKitAPI(livekit.url, livekit.api_key, livekit.api_secret) as lk:
        for room in (await lk.room.list_rooms(api.ListRoomsRequest())).rooms:
            await lk.room.delete_room(api.DeleteRoomRequest(room=room.name))


@contextlib.asynccontextmanager
async def webhook_service(
    livekit: LocalLiveKitServer, journal_url: str, settings: Mapping[str, str]
) -> AsyncIterator[WebhookService]:
    container = service_container(
        livekit.url,
        livekit.api_key,
        livekit.api_secret,
        JOURNAL_URL=journal_url,
        AGENT_WATCHDOG_INTERVAL_SECONDS="0",
        **settings,
    )
    async with serving(container) as client:
        service = WebhookService(container, client)
        try:
            yield service
        finally:  # no room is left for the next test's start-up repair to find
            await delete_every_room(livekit)
