"""A host's get_current_user, with dependencies of its own, reaches every endpoint; apps stay apart.

The router resolves the host's dependency once per request, as its own
dependency, and the named handlers read the caller it found. These pin what that
must keep: FastAPI still resolves (and a host's test still overrides) the host's
dependency, its own validation failures are the one-shape 422 rather than a
server error, and two apps with their own containers never see each other's users.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Header

from tests.support.constants import TEST_API_KEY, TEST_API_SECRET
from tests.support.journals import scratch_directory, sqlite_journal_url
from voicecore.container import VoiceCoreContainer, voicecore_lifespan
from voicecore.settings import load_settings
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore_http.app import include_voice_sessions

BASE = "/api/v1/voice-sessions"


async def host_tenant(x_tenant: Annotated[str, Header()]) -> str:
    return x_tenant


def tenant_users(app_name: str) -> Callable[..., Any]:
    """A host's get_current_user that needs a dependency of its own (the X-Tenant header)."""

    async def get_current_user(tenant: Annotated[str, Depends(host_tenant)]) -> dict[str, str]:
        return {"id": f"{app_name}-{tenant}"}

    return get_current_user


def host_app(gateway: InMemoryRoomGateway, get_current_user: Callable[..., Any]) -> FastAPI:
    settings = load_settings(
        {
            "LIVEKIT_URL": "ws://livekit.internal:7880",
            "LIVEKIT_API_KEY": TEST_API_KEY,
            "LIVEKIT_API_SECRET": TEST_API_SECRET,
            "JOURNAL_URL": sqlite_journal_url(scratch_directory()),
        }
    )
    container = VoiceCoreContainer.from_settings(settings, room_gateway=gateway)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with voicecore_lifespan(container):
            yield

    app = FastAPI(lifespan=lifespan)
    include_voice_sessions(app, container, get_current_user=get_current_user)
    return app


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://host.test") as client,
    ):
        yield client


async def room_names(gateway: InMemoryRoomGateway) -> set[str]:
    return {room.name for room in await gateway.list_rooms()}


async def test_two_apps_in_one_process_keep_their_own_users_and_rooms() -> None:
    alpha_rooms, beta_rooms = InMemoryRoomGateway(), InMemoryRoomGateway()
    alpha, beta = host_app(alpha_rooms, tenant_users("alpha")), host_app(beta_rooms, tenant_users("beta"))
    async with serving(alpha) as alpha_client, serving(beta) as beta_client:
        made_in_alpha = await alpha_client.post(BASE, json={}, headers={"X-Tenant": "1"})
        made_in_beta = await beta_client.post(BASE, json={}, headers={"X-Tenant": "1"})
        assert (made_in_alpha.status_code, made_in_beta.status_code) == (201, 201)
        alpha_room, beta_room = made_in_alpha.json()["room_name"], made_in_beta.json()["room_name"]
        assert alpha_room.startswith("fitness-voice-alpha-1-")
        assert beta_room.startswith("fitness-voice-beta-1-")
        assert (await room_names(alpha_rooms), await room_names(beta_rooms)) == ({alpha_room}, {beta_room})

        listed = await alpha_client.get(BASE, headers={"X-Tenant": "1"})
        assert [s["room_name"] for s in listed.json()["sessions"]] == [alpha_room]
        # Another tenant of the same app is another user: the session is not theirs.
        other = await alpha_client.get(f"{BASE}/{alpha_room}", headers={"X-Tenant": "2"})
        assert other.status_code == 403


async def test_a_host_dependency_that_fails_validation_is_the_one_shape_422_and_creates_nothing() -> None:
    rooms = InMemoryRoomGateway()
    async with serving(host_app(rooms, tenant_users("alpha"))) as client:
        for method, path in (
            ("POST", BASE),
            ("GET", BASE),
            ("GET", f"{BASE}/fitness-voice-x-0123456789abcdef"),
        ):
            response = await client.request(method, path, json={} if method == "POST" else None)
            assert response.status_code == 422, (method, path)
            assert response.json() == {"detail": "Invalid request: header.x-tenant: Field required"}
        assert await room_names(rooms) == set()


async def test_a_hosts_dependency_override_decides_the_caller() -> None:
    rooms = InMemoryRoomGateway()
    get_current_user = tenant_users("alpha")
    app = host_app(rooms, get_current_user)

    async def test_user() -> dict[str, str]:
        return {"id": "overridden"}

    app.dependency_overrides[get_current_user] = test_user
    async with serving(app) as client:
        made = await client.post(BASE, json={})  # no X-Tenant: the override needs none
        assert made.status_code == 201
        assert made.json()["room_name"].startswith("fitness-voice-overridden-")
        assert await room_names(rooms) == {made.json()["room_name"]}
