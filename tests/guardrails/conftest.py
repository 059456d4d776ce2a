"""Fixtures of the guardrail tests: the service with its limits on."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.guardrails import Serve, serve_with_limits
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway


@pytest.fixture
def serve() -> Serve:
    """Serves a gateway with the limits a test names: ``serve(gateway, cap=1, per_minute=2)``."""
    return serve_with_limits


@pytest.fixture
async def capped(memory_gateway: InMemoryRoomGateway) -> AsyncIterator[httpx.AsyncClient]:
    """The service with the cap on (CAP live sessions a user) and the rate off."""
    async with serve_with_limits(memory_gateway) as client:
        yield client
