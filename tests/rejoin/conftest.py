"""Fixtures of the rejoin tests: the service with an agent configured by name (no worker takes it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.apps import service_container, serving
from tests.support.constants import AGENT_NAME, CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore.testing.livekit_server import LocalLiveKitServer


@pytest.fixture
async def agent_client(memory_gateway: InMemoryRoomGateway) -> AsyncIterator[httpx.AsyncClient]:
    """The service over the in-memory gateway, with an agent configured by name."""
    container = service_container(
        CONFIGURED_LIVEKIT_URL,
        TEST_API_KEY,
        TEST_API_SECRET,
        room_gateway=memory_gateway,
        LIVEKIT_AGENT_NAME=AGENT_NAME,
    )
    async with serving(container) as client:
        yield client


@pytest.fixture
async def agent_service(livekit_server: LocalLiveKitServer) -> AsyncIterator[httpx.AsyncClient]:
    """The service on the real server, with an agent configured by name and a departure timeout."""
    container = service_container(
        livekit_server.url,
        livekit_server.api_key,
        livekit_server.api_secret,
        LIVEKIT_AGENT_NAME=AGENT_NAME,
        SESSION_DEPARTURE_TIMEOUT_SECONDS="45",
    )
    async with serving(container) as client:
        yield client
