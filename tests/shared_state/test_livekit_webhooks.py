"""LiveKit's own webhooks, sent by the real server to the service over HTTP, keep the store fresh."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
from livekit import api

from tests.support.constants import BASE
from tests.support.livekit import joined, livekit_sending_webhooks_to, unique_user_id
from tests.support.service_process import ServiceProcess, running_replica, service_environment
from tests.support.tokens import auth_header
from tests.support.waiting import eventually
from voicecore.adapters.redis_store import RedisSessionStore
from voicecore.core.domain import AgentType, SessionMode, utc_now
from voicecore.core.metadata import RoomMetadata
from voicecore.core.naming import new_room_name
from voicecore.core.session_record import SessionRecord
from voicecore.testing.livekit_server import LocalLiveKitServer
from voicecore.testing.processes import free_port
from voicecore.testing.redis_server import LocalRedisServer, running_redis_server
from voicecore_http.webhooks import WEBHOOK_PATH


@pytest.fixture(scope="module")
def service_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def webhook_server(service_port: int) -> Iterator[LocalLiveKitServer]:
    """A LiveKit server of this module's own, sending its webhooks to the service."""
    with livekit_sending_webhooks_to(service_port) as server:
        yield server


@pytest.fixture(scope="module")
def module_redis() -> Iterator[LocalRedisServer]:
    """A Redis of this module's own: the session's is emptied by other tests, and a store emptied
    under a running replica admits no session until its index is rebuilt (test_redis_loss.py)."""
    with running_redis_server() as server:
        yield server


@pytest.fixture(scope="module")
def service(
    webhook_server: LocalLiveKitServer, module_redis: LocalRedisServer, service_port: int
) -> Iterator[ServiceProcess]:
    # Only start-up repairs the index: whatever else it learns, it learns from webhooks.
    settings = service_environment(
        webhook_server, SESSION_STORE_URL=module_redis.url, SESSION_RECONCILE_INTERVAL_SECONDS="0"
    )
    with running_replica(settings, port=service_port) as running:
        yield running


@pytest.fixture
async def store(module_redis: LocalRedisServer) -> AsyncIterator[RedisSessionStore]:
    store = RedisSessionStore(module_redis.url)
    await store.open()
    yield store
    await store.aclose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


def between(start: datetime, end: datetime) -> Callable[[datetime | None], bool]:
    """Whether a moment LiveKit stamped lies in [start, end]; its webhooks stamp whole seconds."""
    floor = start.replace(microsecond=0)
    return lambda moment: moment is not None and floor <= moment <= end


async def test_participants_joining_and_leaving_are_noted_from_livekits_webhooks(
    service: ServiceProcess,
    webhook_server: LocalLiveKitServer,
    store: RedisSessionStore,
    http: httpx.AsyncClient,
) -> None:
    user = unique_user_id("hooked")
    created = (await http.post(service.base_url + BASE, json={}, headers=auth_header(user))).json()
    room = created["room_name"]
    before_join = utc_now()
    async with joined(webhook_server.url, created["token"]):
        after_join = utc_now()
        on_join = await eventually(
            lambda: store.get_session(room),
            lambda r: r is not None and r.user_joined_at is not None,
            what="participant_joined noted in the store",
        )
    after_leave = utc_now()
    on_leave = await eventually(
        lambda: store.get_session(room),
        lambda r: r is not None and r.user_left_at is not None,
        what="participant_left noted in the store",
    )
    assert on_join is not None
    assert on_leave is not None
    assert (on_join.room_name, on_join.user_id, on_join.agent_type) == (room, user, "general")
    assert between(before_join, after_join)(on_join.user_joined_at)
    assert on_join.user_left_at is None
    assert on_leave.user_joined_at == on_join.user_joined_at
    assert between(after_join, after_leave)(on_leave.user_left_at)
    # No agent was dispatched by name and no worker takes the automatic dispatch: none came.
    assert (on_leave.agent_joined_at, on_leave.agent_left_at) == (None, None)


async def test_a_room_deleted_behind_the_service_is_forgotten_on_room_finished(
    service: ServiceProcess,
    webhook_server: LocalLiveKitServer,
    store: RedisSessionStore,
    http: httpx.AsyncClient,
) -> None:
    user = unique_user_id()
    created = (await http.post(service.base_url + BASE, json={}, headers=auth_header(user))).json()
    recorded = await store.get_session(created["room_name"])
    assert recorded is not None
    assert (recorded.room_name, recorded.user_id, recorded.agent_type) == (
        created["room_name"],
        user,
        "general",
    )
    async with api.LiveKitAPI(webhook_server.url, webhook_server.api_key, webhook_server.api_secret) as lk:
        await lk.room.delete_room(api.DeleteRoomRequest(room=created["room_name"]))
    await eventually(
        lambda: store.get_session(created["room_name"]),
        lambda r: r is None,
        what="room_finished to remove the session from the store",
    )


async def test_a_session_made_behind_the_service_is_listed_once_room_started_arrives(
    service: ServiceProcess, webhook_server: LocalLiveKitServer, http: httpx.AsyncClient
) -> None:
    user = unique_user_id("elsewhere")
    name = new_room_name(user)
    metadata = RoomMetadata(user, AgentType.TRACKER, SessionMode.VOICE, utc_now()).encode()
    async with api.LiveKitAPI(webhook_server.url, webhook_server.api_key, webhook_server.api_secret) as lk:
        await lk.room.create_room(api.CreateRoomRequest(name=name, metadata=metadata, empty_timeout=60))

    async def listed() -> list[str]:
        response = await http.get(service.base_url + BASE, headers=auth_header(user))
        return [s["room_name"] for s in response.json()["sessions"]]

    await eventually(listed, lambda names: names == [name], what="room_started to index the session")


def signed(server: LocalLiveKitServer, body: str, *, secret: str | None = None) -> str:
    """What LiveKit puts in Authorization: a JWT (no "Bearer ") carrying the body's SHA-256."""
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    return api.AccessToken(server.api_key, secret or server.api_secret).with_sha256(digest).to_jwt()


def participant_joined(room_name: str, identity: str, at: int) -> str:
    return json.dumps(
        {
            "event": "participant_joined",
            "id": f"EV_{secrets.token_hex(6)}",
            "createdAt": str(at),
            "room": {"name": room_name},
            "participant": {"identity": identity, "kind": "AGENT"},
        }
    )


async def test_forged_tampered_or_unreadable_deliveries_change_nothing_and_duplicates_apply_once(
    service: ServiceProcess,
    webhook_server: LocalLiveKitServer,
    store: RedisSessionStore,
    http: httpx.AsyncClient,
) -> None:
    room = new_room_name(unique_user_id("forged"))
    created = utc_now()
    assert await store.add_session(SessionRecord(room, "forged", "general", created))
    url = service.base_url + WEBHOOK_PATH
    at = int(time.time())
    body = participant_joined(room, "agent-1", at)

    async def post(content: str, authorization: str | None) -> httpx.Response:
        headers = {"Content-Type": "application/webhook+json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        return await http.post(url, content=content, headers=headers)

    refused = [
        await post(body, None),
        await post(body, signed(webhook_server, body, secret="another-secret-" + "x" * 32)),
        await post(body, signed(webhook_server, body.replace("agent-1", "agent-2"))),  # hash of another body
        await post(body, "Bearer " + signed(webhook_server, body)),
    ]
    assert [r.status_code for r in refused] == [401, 401, 401, 401]
    assert all(r.json() == {"detail": "Webhook not verified"} for r in refused)
    unreadable = await post("{not json", signed(webhook_server, "{not json"))
    assert (unreadable.status_code, unreadable.json()) == (400, {"detail": "Webhook body is not an event"})
    untouched = SessionRecord(room, "forged", "general", created)
    assert await store.get_session(room) == untouched

    first = await post(body, signed(webhook_server, body))
    again = await post(body, signed(webhook_server, body))
    assert (first.json(), again.json()) == ({"status": "applied"}, {"status": "ignored"})
    assert await store.get_session(room) == replace(
        untouched, agent_joined_at=datetime.fromtimestamp(at, UTC)
    )
