from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import httpx
import jwt
import pytest
from dependency_injector import providers
from pydantic import SecretStr

from tests.conftest import TEST_API_KEY, TEST_API_SECRET
from voicecore.adapters.memory import InMemoryRoomGateway
from voicecore.devserver import LocalLiveKitServer
from voicecore.settings import LiveKitSettings
from voicecore_http.app import create_app
from voicecore_http.container import ServiceContainer
from voicecore_http.settings import HttpSettings

AUTH_SECRET = "auth-secret-for-tests-only-0123456789abcdef"
CONFIGURED_LIVEKIT_URL = "wss://voicecore-test.livekit.cloud"

AuthHeaders = Callable[..., dict[str, str]]


def bearer(user_id: str, email: str | None = None, *, ttl: int = 600, secret: str = AUTH_SECRET) -> str:
    claims: dict[str, object] = {"sub": user_id, "exp": int(time.time()) + ttl}
    if email is not None:
        claims["email"] = email
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture
def auth() -> AuthHeaders:
    def headers(user_id: str, email: str | None = None, **kwargs: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {bearer(user_id, email, **kwargs)}"}  # type: ignore[arg-type]

    return headers


def service_container(livekit_url: str, api_key: str, api_secret: str) -> ServiceContainer:
    container = ServiceContainer()
    container.settings.override(
        providers.Object(
            LiveKitSettings(
                livekit_url=livekit_url,
                livekit_api_key=api_key,
                livekit_api_secret=SecretStr(api_secret),
                _env_file=None,  # never a developer's .env
            )
        )
    )
    container.http_settings.override(
        providers.Object(HttpSettings(auth_jwt_secret=SecretStr(AUTH_SECRET), _env_file=None))
    )
    return container


@pytest.fixture
def memory_container(memory_gateway: InMemoryRoomGateway) -> ServiceContainer:
    container = service_container(CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET)
    container.room_gateway.override(providers.Object(memory_gateway))
    return container


async def _client_for(container: ServiceContainer) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://voicecore.test") as client,
    ):
        yield client


@pytest.fixture
async def client(memory_container: ServiceContainer) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client_for(memory_container):
        yield c


@pytest.fixture
def livekit_container(livekit_server: LocalLiveKitServer) -> ServiceContainer:
    return service_container(livekit_server.url, livekit_server.api_key, livekit_server.api_secret)


@pytest.fixture
async def livekit_client(livekit_container: ServiceContainer) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client_for(livekit_container):
        yield c
