"""Starts as the guardrail tests send them: the service with its limits as given, keyed requests."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx

from tests.support.apps import service_container, serving
from tests.support.constants import BASE, CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from tests.support.tokens import auth_header
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway

# The live-session cap of the service the ``capped`` fixture serves.
CAP = 2

Serve = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def serve_with_limits(
    gateway: InMemoryRoomGateway, *, cap: int = CAP, per_minute: int = 0
) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """The service over ``gateway`` with the guardrails as given (tests/support/apps.py turns them off)."""
    container = service_container(
        CONFIGURED_LIVEKIT_URL,
        TEST_API_KEY,
        TEST_API_SECRET,
        room_gateway=gateway,
        SESSION_MAX_LIVE_PER_USER=str(cap),
        SESSION_CREATES_PER_MINUTE=str(per_minute),
    )
    return serving(container)


def keyed(user: str, key: str) -> dict[str, str]:
    return {**auth_header(user), "Idempotency-Key": key}


async def create(client: httpx.AsyncClient, headers: dict[str, str], kind: str = "workout") -> httpx.Response:
    return await client.post(BASE, json={"agent_type": kind}, headers=headers)
