"""CORS_ALLOW_ORIGINS and the DEMO_PAGE demo client, as the service serves them."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.support.apps import service_container, serving
from tests.support.constants import BASE, CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from tests.support.tokens import auth_header
from voicecore.settings import SettingsError
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore_http.demo_page import DEMO_DIRECTORY, LIVEKIT_CLIENT_BUNDLE, serve_demo_page

APP_ORIGIN = "https://app.example.com"
REPOSITORY = Path(__file__).resolve().parents[2]


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


@pytest.fixture
async def demo_client(memory_gateway: InMemoryRoomGateway) -> AsyncIterator[httpx.AsyncClient]:
    container = service_container(
        CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET, room_gateway=memory_gateway, DEMO_PAGE="1"
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


# --- the demo page ----------------------------------------------------------------------


async def test_the_demo_page_is_off_by_default(client: httpx.AsyncClient) -> None:
    for path in ("/demo", "/demo/", "/demo/demo.js", "/demo/livekit-client.esm.mjs"):
        assert (await client.get(path)).status_code == 404


async def test_the_demo_page_is_served_with_demo_page_on(demo_client: httpx.AsyncClient) -> None:
    redirect = await demo_client.get("/demo")
    assert (redirect.status_code, redirect.headers["location"]) == (308, "/demo/")
    page = await demo_client.get("/demo/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    script = await demo_client.get("/demo/demo.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert '<script type="module" src="demo.js">' in page.text
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", page.text), "the page loads nothing from elsewhere"


async def test_the_page_loads_the_pinned_livekit_client_from_the_service(
    demo_client: httpx.AsyncClient,
) -> None:
    pinned = json.loads((REPOSITORY / "web/package.json").read_text())["dependencies"]["livekit-client"]
    locked = json.loads((REPOSITORY / "web/package-lock.json").read_text())
    assert locked["packages"]["node_modules/livekit-client"]["version"] == pinned
    bundle = await demo_client.get("/demo/livekit-client.esm.mjs")
    assert bundle.status_code == 200
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert f'version$1 = "{pinned}"' in bundle.text
    # What the page imports, the bundle exports.
    script = (DEMO_DIRECTORY / "demo.js").read_text()
    [(names, source)] = re.findall(r"import \{([^}]*)\} from '([^']+)'", script)
    assert source == "./livekit-client.esm.mjs"
    exported = re.findall(r"export\s*\{([^}]*)\}", bundle.text)[-1]  # the module's export list
    exported_names = {name.strip().split(" as ")[-1] for name in exported.split(",")}
    assert {name.strip() for name in names.split(",")} <= exported_names


def test_every_element_the_script_uses_is_on_the_page() -> None:
    script = (DEMO_DIRECTORY / "demo.js").read_text()
    page = (DEMO_DIRECTORY / "index.html").read_text()
    used = set(re.findall(r"\$\('([a-z-]+)'\)", script)) | set(
        re.findall(r"show(?:Flag)?\('([a-z-]+)'", script)
    )
    present = set(re.findall(r'\sid="([a-z-]+)"', page))
    assert used
    assert used <= present, used - present
    for element_id in present - {"sign-in-section"}:
        assert f'id="{element_id}" data-testid="' in page, element_id


def test_demo_page_without_the_installed_bundle_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="DEMO_PAGE") as failure:
        serve_demo_page(FastAPI(), bundle=tmp_path / "missing.mjs")
    assert "make setup" in str(failure.value)
    assert LIVEKIT_CLIENT_BUNDLE.is_file(), "make setup installs it: the test above must not be the only one"
