"""The service as tests build it: through the one composition root, with settings given, never read."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from dependency_injector import providers

from tests.support.constants import AUTH_SECRET, BASE, BASE_URL
from tests.support.journals import scratch_directory, sqlite_journal_url
from tests.support.leak_guard import LeakGuard
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.core.domain import SessionPolicy, utc_now
from voicecore.core.journal import SessionJournal
from voicecore.core.ports import RoomGateway, TokenIssuer
from voicecore.core.recorder import SessionRecorder
from voicecore.core.sessions import VoiceSessions
from voicecore.core.store import SessionStore
from voicecore.settings import load_settings
from voicecore_http.app import create_app
from voicecore_http.container import ServiceContainer
from voicecore_http.settings import load_http_settings

T = TypeVar("T")

GUARDRAILS_OFF = {"SESSION_MAX_LIVE_PER_USER": "0", "SESSION_CREATES_PER_MINUTE": "0"}

# What an error body must never carry: exception class names, tracebacks, addresses.
_INTERNAL_DETAIL = re.compile(
    r"Traceback|File \"|\b[A-Z]\w*(?:Error|Exception|Warning)\b|\b(?:https?|wss?)://|127\.0\.0\.1|localhost"
    r"|twirp|aiohttp|livekit\.|\.py\b"
)


def service_container(
    livekit_url: str,
    api_key: str,
    api_secret: str,
    *,
    room_gateway: RoomGateway | None = None,
    session_store: SessionStore | None = None,
    journal: SessionJournal | None = None,
    **variables: str,
) -> ServiceContainer:
    """A standalone-service container from these values alone; ``variables`` adds settings by name.

    The guardrails are off unless a test names them: the suites that make many
    sessions per user are about other rules (tests/guardrails is about these). Each
    container gets a journal of its own (a migrated SQLite file) unless JOURNAL_URL is given.
    """
    environ = {
        "LIVEKIT_URL": livekit_url,
        "LIVEKIT_API_KEY": api_key,
        "LIVEKIT_API_SECRET": api_secret,
        "AUTH_JWT_SECRET": AUTH_SECRET,
        **GUARDRAILS_OFF,
        **variables,
    }
    if "JOURNAL_URL" not in environ:
        environ["JOURNAL_URL"] = sqlite_journal_url(scratch_directory())
    container = ServiceContainer.for_service(
        load_settings(environ), load_http_settings(environ), room_gateway=room_gateway, journal=journal
    )
    if session_store is not None:  # as docs/hosting.md swaps an adapter
        container.session_store.override(providers.Object(session_store))
    return container


def sessions_with(
    gateway: RoomGateway,
    issuer: TokenIssuer,
    clock: Callable[[], datetime] = utc_now,
    *,
    recorder: SessionRecorder,
    **policy: Any,
) -> VoiceSessions:
    """The use cases alone, on the in-process store, with the session policy given by field."""
    return VoiceSessions(
        gateway,
        issuer,
        SessionPolicy(**policy),
        clock=clock,
        store=InProcessSessionStore(),
        recorder=recorder,
    )


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


def session_path(room_name: str) -> str:
    """The path of a session; every character of the name percent-encoded ("\\x00" -> %00)."""
    return f"{BASE}/{quote(room_name, safe='')}"


def check_error(response: httpx.Response, expected: dict[str, str], guard: LeakGuard) -> None:
    """The documented body exactly, and nothing internal in it."""
    assert response.json() == expected, (response.status_code, response.text)
    check_clean_body(response.text, guard)
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


def check_clean_body(text: str, guard: LeakGuard) -> None:
    assert not _INTERNAL_DETAIL.search(text), text
    assert guard.problems_in(text) == [], text


def parse_utc(value: str) -> datetime:
    """A timestamp of the API: ISO 8601 with the explicit ``+00:00`` offset the docs promise."""
    assert value.endswith("+00:00"), value
    return datetime.fromisoformat(value)
