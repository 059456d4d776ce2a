"""Shared pieces of the reliability suites: apps, clients, the documented errors, figures."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import jwt
from dependency_injector import providers
from pydantic import SecretStr

from tests.http.conftest import AUTH_SECRET, bearer
from tests.reliability.leaks import LeakGuard
from voicecore.settings import LiveKitSettings
from voicecore_http.app import create_app
from voicecore_http.container import ServiceContainer
from voicecore_http.settings import HttpSettings

T = TypeVar("T")

BASE = "/api/v1/voice-sessions"
BASE_URL = "http://voicecore.test"

# The documented error answers (README "The API", docs/http-api.md).
NOT_AUTHENTICATED = {"detail": "Not authenticated"}
NOT_OWNER = {"detail": "This voice session belongs to another user"}
NOT_FOUND = {"detail": "Voice session not found"}
INVALID_USER_ID = {"detail": "This account's user id cannot be used for voice sessions"}
LIVEKIT_FAILED = {"detail": "The voice service is temporarily unavailable; please retry"}
NOT_READY = {"detail": "LiveKit is not reachable"}

# What an error body must never carry: exception class names, tracebacks, addresses.
_INTERNAL_DETAIL = re.compile(
    r"Traceback|File \"|\b[A-Z]\w*(?:Error|Exception|Warning)\b|\b(?:https?|wss?)://|127\.0\.0\.1|localhost"
    r"|twirp|aiohttp|livekit\.|\.py\b"
)


def container_for(
    livekit_url: str, api_key: str, api_secret: str, *, timeout_seconds: float | None = None
) -> ServiceContainer:
    """A standalone-service container; the LiveKit timeout is settable for fault tests."""
    settings: dict[str, Any] = {
        "livekit_url": livekit_url,
        "livekit_api_key": api_key,
        "livekit_api_secret": SecretStr(api_secret),
    }
    if timeout_seconds is not None:
        settings["livekit_timeout_seconds"] = timeout_seconds
    container = ServiceContainer()
    container.settings.override(providers.Object(LiveKitSettings(**settings)))
    container.http_settings.override(providers.Object(HttpSettings(auth_jwt_secret=SecretStr(AUTH_SECRET))))
    return container


@contextlib.asynccontextmanager
async def serving(container: ServiceContainer) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan entered, and an in-process client; both closed on exit."""
    app = create_app(container)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client,
    ):
        yield client


class LoopHarness:
    """An app driven from synchronous code (state machines, @given): one loop, owned here."""

    def __init__(self, container: ServiceContainer) -> None:
        self.loop = asyncio.new_event_loop()
        self._stack = contextlib.AsyncExitStack()
        try:
            self.client: httpx.AsyncClient = self.run(self._stack.enter_async_context(serving(container)))
        except BaseException:
            self.loop.close()
            raise

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def close(self) -> None:
        try:
            self.run(self._stack.aclose())
            self.run(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()


def auth_header(user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {bearer(user_id)}"}


def session_path(room_name: str) -> str:
    """The path of a session; every character of the name percent-encoded ("\\x00" -> %00)."""
    return f"{BASE}/{quote(room_name, safe='')}"


def bad_auth() -> dict[str, dict[str, str]]:
    """Every way to be unauthenticated; minted at call time so the leak guard records them."""
    return {
        "missing": {},
        "basic scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
        "garbage": {"Authorization": "Bearer not-a-jwt"},
        "wrong secret": {"Authorization": f"Bearer {bearer('42', secret='another-secret-' + 'x' * 32)}"},
        "expired": {"Authorization": f"Bearer {bearer('42', ttl=-120)}"},
        "alg none": {
            "Authorization": "Bearer "
            + jwt.encode({"sub": "42", "exp": int(time.time()) + 600}, key="", algorithm="none")
        },
        "empty sub": {"Authorization": f"Bearer {bearer('')}"},
    }


def check_error(response: httpx.Response, expected: dict[str, str], guard: LeakGuard) -> None:
    """The documented body exactly, and nothing internal in it."""
    assert response.json() == expected, (response.status_code, response.text)
    check_clean_body(response.text, guard)
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


def check_clean_body(text: str, guard: LeakGuard) -> None:
    assert not _INTERNAL_DETAIL.search(text), text
    assert guard.problems_in(text) == [], text


# --- figures, printed at the end of the run (tests/reliability/conftest.py) ------


@dataclass
class Figures:
    lines: dict[str, list[str]] = field(default_factory=dict)

    def record(self, section: str, line: str) -> None:
        self.lines.setdefault(section, []).append(line)


FIGURES = Figures()


async def timed(coroutine: Coroutine[Any, Any, T]) -> tuple[T, float]:
    started = time.monotonic()
    result = await coroutine
    return result, time.monotonic() - started
