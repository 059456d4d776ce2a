"""CORS_ALLOW_ORIGINS: a web app on another origin may call the API with its bearer header."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.apps import service_container, serving
from tests.support.constants import BASE, CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from tests.support.tokens import auth_header
from voicecore.settings import SettingsError
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway

APP_ORIGIN = "https://app.example.com"


@pytest.fixture
async def cors_client(memory_gateway: InMemoryRoomGateway) -> AsyncIterator[httpx.AsyncClient]:
    container = service_container(
        CONFIGURED_LIVEKIT_URL,
        TEST_API_KEY,
        TEST_API_SECRET,
        room_gateway=memory_gateway,
        CORS_ALLOW_ORIGINS=f"{APP_ORIGIN}, http://127.0.0.1:5173",
    )
    async with serving(container) as client:
        yield client


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type",
    }


# --- CORS -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", f"{BASE}/connection-details"), ("POST", BASE), ("DELETE", f"{BASE}/any"), ("GET", BASE)],
)
async def test_a_preflight_from_an_allowed_origin_may_send_the_bearer_header(
    cors_client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await cors_client.options(path, headers=preflight(APP_ORIGIN, method))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert method in response.headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "access-control-allow-credentials" not in response.headers  # a bearer header, no cookies


async def test_the_actual_request_carries_the_cors_headers_even_when_refused(
    cors_client: httpx.AsyncClient,
) -> None:
    created = await cors_client.post(
        f"{BASE}/connection-details", json={}, headers={"Origin": APP_ORIGIN, **auth_header("user-1")}
    )
    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "x-request-id" in created.headers["access-control-expose-headers"].lower()
    refused = await cors_client.post(f"{BASE}/connection-details", json={}, headers={"Origin": APP_ORIGIN})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == APP_ORIGIN  # so the app can read the 401


async def test_another_origin_gets_no_cors_permission(
    cors_client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    response = await cors_client.options(
        f"{BASE}/connection-details", headers=preflight("https://evil.example")
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    assert memory_gateway.room_names == frozenset()


async def test_without_the_setting_there_is_no_cors_at_all(client: httpx.AsyncClient) -> None:
    response = await client.options(f"{BASE}/connection-details", headers=preflight(APP_ORIGIN))
    assert response.status_code == 405
    assert not any(name.startswith("access-control-") for name in response.headers)
    simple = await client.get(BASE, headers={"Origin": APP_ORIGIN, **auth_header("user-1")})
    assert not any(name.startswith("access-control-") for name in simple.headers)


@pytest.mark.parametrize(
    "value", ["app.example.com", "https://app.example.com/path", "ftp://x.example", "https://a.example?x=1"]
)
def test_an_origin_that_is_not_an_origin_is_a_settings_error(value: str) -> None:
    with pytest.raises(SettingsError, match="CORS_ALLOW_ORIGINS"):
        service_container(CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET, CORS_ALLOW_ORIGINS=value)
