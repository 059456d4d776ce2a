"""Host mode: a broken host user is a logged server error, one 422 shape, health routes, no Host redirects.

A host app of the tests' own (FastAPI, its defaults: redirect_slashes on, its own
validation handler) mounts voicecore, on the real LiveKit server.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Header
from pydantic import BaseModel

from tests.support.journals import scratch_directory, sqlite_journal_url
from tests.support.livekit import unique_user_id
from voicecore.container import VoiceCoreContainer, voicecore_lifespan
from voicecore.settings import load_settings
from voicecore.testing.livekit_server import LocalLiveKitServer
from voicecore_http.app import include_voice_sessions
from voicecore_http.health import health_router

PREFIX = "/coach/voice"
HEALTH_PREFIX = "/coach"  # outside PREFIX: there, /healthz would read as a session's name
UNEXPECTED = {"detail": "Internal server error"}


class HostUser(BaseModel):
    user_id: int  # not `id`: the mistake this suite is about
    email: str


class Thing(BaseModel):
    size: int


@dataclass
class SlottedUser:
    __slots__ = ("id", "nickname")
    id: object
    nickname: str


def host_app(container: VoiceCoreContainer, current_user: Callable[..., Any]) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with voicecore_lifespan(container):
            yield

    app = FastAPI(lifespan=lifespan)
    include_voice_sessions(app, container, get_current_user=current_user, prefix=PREFIX)
    app.include_router(health_router(container), prefix=HEALTH_PREFIX)

    @app.post("/things")
    async def host_route(thing: Thing) -> Thing:  # the host's own route, the host's own 422
        return thing

    return app


@contextlib.asynccontextmanager
async def hosted(
    server: LocalLiveKitServer, current_user: Callable[..., Any], *, base_url: str = "http://host.test"
) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(
        {
            "LIVEKIT_URL": server.url,
            "LIVEKIT_API_KEY": server.api_key,
            "LIVEKIT_API_SECRET": server.api_secret,
            "JOURNAL_URL": sqlite_journal_url(scratch_directory()),
        }
    )
    app = host_app(VoiceCoreContainer.from_settings(settings), current_user)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as client,
    ):
        yield client


def returning(user: object) -> Callable[..., Any]:
    async def current_user(authorization: Annotated[str | None, Header()] = None) -> object:
        return user

    return current_user


@pytest.mark.parametrize(
    ("user", "problem"),
    [
        (HostUser(user_id=42, email="ada@example.com"), "with no `id`"),
        ({"user_id": 42}, "with no `id`"),
        ({"id": None}, "whose `id` is a NoneType"),
        ({"id": 4.2}, "whose `id` is a float"),
        ({"id": True}, "whose `id` is a bool"),
        ({"id": ""}, "whose `id` is empty"),
        (SlottedUser(id=[42], nickname="ada"), "whose `id` is a list"),
    ],
    ids=["user_id attribute", "user_id key", "None", "float", "bool", "empty", "list"],
)
async def test_a_host_user_without_a_usable_id_is_a_logged_server_error_not_a_401(
    livekit_server: LocalLiveKitServer, caplog: pytest.LogCaptureFixture, user: object, problem: str
) -> None:
    caplog.set_level(logging.ERROR)
    async with hosted(livekit_server, returning(user)) as client:
        answers = [
            await client.post(PREFIX, json={}),
            await client.get(PREFIX),
            await client.get(f"{PREFIX}/fitness-voice-42-0123456789abcdef"),
            await client.delete(f"{PREFIX}/fitness-voice-42-0123456789abcdef"),
        ]
    assert [(a.status_code, a.json()) for a in answers] == [(500, UNEXPECTED)] * 4
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(logged) == 4
    assert all(problem in message and type(user).__name__ in message for message in logged), logged
    if not isinstance(user, dict) or "user_id" in user:
        assert all("user_id" in message or "nickname" in message for message in logged)
    assert "ada@example.com" not in caplog.text  # names fields, never values


@pytest.mark.parametrize(
    "user", [{"id": 42}, {"id": "auth0|42", "email": "ada@example.com"}, SlottedUser(uuid.uuid4(), "a")]
)
async def test_a_usable_id_is_a_str_an_int_or_a_uuid(
    livekit_server: LocalLiveKitServer, user: object
) -> None:
    if isinstance(user, dict):
        user = {**user, "id": f"{user['id']}-{unique_user_id()}"}
    async with hosted(livekit_server, returning(user)) as client:
        created = await client.post(PREFIX, json={})
        assert created.status_code == 201, created.text
        assert (await client.delete(f"{PREFIX}/{created.json()['room_name']}")).status_code == 200


async def test_a_host_that_returns_no_user_gets_a_401(livekit_server: LocalLiveKitServer) -> None:
    async with hosted(livekit_server, returning(None)) as client:
        answer = await client.get(PREFIX)
    assert (answer.status_code, answer.json()) == (401, {"detail": "Not authenticated"})


@pytest.mark.parametrize(
    "body",
    [
        b'{"agent_type": 5}',
        b'{"agent_type": "yoga"}',
        b'{"extra": 1}',
        b"[]",
        b'{"agent_type": ',
        b"\xc3\x28",
    ],
    ids=["wrong type", "unknown agent", "unknown field", "array", "malformed", "not utf-8"],
)
async def test_the_hosted_post_answers_422_in_one_shape(
    livekit_server: LocalLiveKitServer, body: bytes
) -> None:
    async with hosted(livekit_server, returning({"id": unique_user_id("shape")})) as client:
        answer = await client.post(PREFIX, content=body, headers={"Content-Type": "application/json"})
        host_answer = await client.post("/things", json={"size": "big"})
    assert answer.status_code == 422
    assert list(answer.json()) == ["detail"]
    assert answer.json()["detail"].startswith("Invalid request")
    # The host's own routes keep the host's own 422.
    assert host_answer.status_code == 422
    assert isinstance(host_answer.json()["detail"], list)


async def test_hosts_mount_the_health_routes(livekit_server: LocalLiveKitServer) -> None:
    async with hosted(livekit_server, returning({"id": "42"})) as client:
        assert (await client.get(f"{HEALTH_PREFIX}/healthz")).json() == {"status": "ok"}
        assert (await client.get(f"{HEALTH_PREFIX}/readyz")).json() == {"status": "ready", "journal": "ok"}


@pytest.mark.parametrize(
    "path", [f"{PREFIX}/", f"{PREFIX}/fitness-voice-42-0123456789abcdef/", f"{PREFIX}/a/b/"]
)
async def test_no_redirect_is_built_from_the_hosts_host_header(
    livekit_server: LocalLiveKitServer, path: str
) -> None:
    async with hosted(livekit_server, returning({"id": "42"}), base_url="http://evil.example") as client:
        for method in ("GET", "POST", "DELETE"):
            answer = await client.request(method, path)
            assert answer.status_code == 404, (method, answer.status_code)
            assert "location" not in answer.headers
