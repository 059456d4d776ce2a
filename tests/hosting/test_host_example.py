"""The documented host example (docs/examples/host_backend.py), exercised as written."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from docs.examples.host_backend import create_host_app
from tests.support.constants import TEST_API_KEY, TEST_API_SECRET
from tests.support.journals import scratch_directory, sqlite_journal_url
from voicecore.container import VoiceCoreContainer
from voicecore.settings import SettingsError, load_settings
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway


@pytest.fixture
async def host_client(memory_gateway: InMemoryRoomGateway) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(
        {
            "LIVEKIT_URL": "ws://livekit.internal:7880",
            "LIVEKIT_API_KEY": TEST_API_KEY,
            "LIVEKIT_API_SECRET": TEST_API_SECRET,
            "JOURNAL_URL": sqlite_journal_url(scratch_directory()),
        }
    )
    container = VoiceCoreContainer.from_settings(settings, room_gateway=memory_gateway)
    app = create_host_app(container)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://host.test") as client,
    ):
        yield client


async def test_the_host_user_drives_the_sessions_under_the_hosts_prefix(
    host_client: httpx.AsyncClient,
) -> None:
    headers = {"Authorization": "Bearer host-session-ada"}
    created = await host_client.post("/coach/voice", json={"agent_type": "scheduler"}, headers=headers)
    assert created.status_code == 201
    body = created.json()
    assert body["room_name"].startswith("fitness-voice-42-")
    assert body["livekit_url"] == "ws://livekit.internal:7880"

    status = await host_client.get(f"/coach/voice/{body['room_name']}", headers=headers)
    assert (status.status_code, status.json()["participant_count"]) == (200, 0)
    listed = await host_client.get("/coach/voice", headers=headers)
    assert [s["room_name"] for s in listed.json()["sessions"]] == [body["room_name"]]
    ended = await host_client.delete(f"/coach/voice/{body['room_name']}", headers=headers)
    assert ended.json() == {"status": "ended", "room_name": body["room_name"]}


async def test_the_hosts_own_auth_decides_401(host_client: httpx.AsyncClient) -> None:
    response = await host_client.get("/coach/voice", headers={"Authorization": "Bearer someone-else"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_domain_errors_are_mapped_on_the_host_app(host_client: httpx.AsyncClient) -> None:
    response = await host_client.get(
        "/coach/voice/fitness-voice-7-0123456789abcdef", headers={"Authorization": "Bearer host-session-ada"}
    )
    assert (response.status_code, response.json()) == (404, {"detail": "Voice session not found"})


def test_the_host_app_fails_at_start_up_without_livekit_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))
    with pytest.raises(SettingsError, match="LIVEKIT_URL"):
        create_host_app()
