"""Starts as the guardrail tests send them: the service with its limits as given, keyed requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta

import httpx

from tests.support.apps import service_container, serving
from tests.support.constants import BASE, CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from tests.support.tokens import auth_header
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.core.store import Claim, InProgress, SessionStore
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway

# The live-session cap of the service the ``capped`` fixture serves.
CAP = 2

Serve = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def serve_with_limits(
    gateway: InMemoryRoomGateway,
    *,
    cap: int = CAP,
    per_minute: int = 0,
    store: SessionStore | None = None,
) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """The service over ``gateway`` with the guardrails as given (tests/support/apps.py turns them off)."""
    container = service_container(
        CONFIGURED_LIVEKIT_URL,
        TEST_API_KEY,
        TEST_API_SECRET,
        room_gateway=gateway,
        session_store=store,
        SESSION_MAX_LIVE_PER_USER=str(cap),
        SESSION_CREATES_PER_MINUTE=str(per_minute),
    )
    return serving(container)


def keyed(user: str, key: str) -> dict[str, str]:
    return {**auth_header(user), "Idempotency-Key": key}


class WatchedKeys(InProcessSessionStore):
    """The in-process store, telling a test when a request was told to wait for its key's first."""

    def __init__(self) -> None:
        super().__init__()
        self.told_to_wait = asyncio.Event()

    async def claim_idempotency_key(
        self, user_id: str, key: str, *, fingerprint: str, holder: str, ttl: timedelta, lease: timedelta
    ) -> Claim:
        claim = await super().claim_idempotency_key(
            user_id, key, fingerprint=fingerprint, holder=holder, ttl=ttl, lease=lease
        )
        if claim == InProgress():
            self.told_to_wait.set()
        return claim


async def create(client: httpx.AsyncClient, headers: dict[str, str], kind: str = "workout") -> httpx.Response:
    return await client.post(BASE, json={"agent_type": kind}, headers=headers)
