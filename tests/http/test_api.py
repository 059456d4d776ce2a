"""The HTTP contract on the in-memory gateway (the fast layer)."""

from __future__ import annotations

import logging
from datetime import datetime

import httpx
import jwt
import pytest

from tests.support.constants import AUTH_SECRET, CONFIGURED_LIVEKIT_URL, TEST_API_SECRET
from tests.support.tokens import auth_header, bearer
from voicecore.core.ports import ParticipantKind
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore_http.logs import JsonFormatter, PlainFormatter, RequestContextFilter

BASE = "/api/v1/voice-sessions"


def parse_utc(value: str) -> datetime:
    assert value.endswith("+00:00"), value
    return datetime.fromisoformat(value)


async def test_create_answers_201_with_the_contract(client: httpx.AsyncClient) -> None:
    response = await client.post(
        BASE, json={"agent_type": "workout"}, headers=auth_header("user-1", "u1@example.com")
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"room_name", "token", "livekit_url", "agent_type", "expires_at"}
    assert body["room_name"].startswith("fitness-voice-user-1-")
    assert body["livekit_url"] == CONFIGURED_LIVEKIT_URL
    assert body["agent_type"] == "workout"
    claims = jwt.decode(body["token"], TEST_API_SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["name"], claims["video"]["room"]) == (
        "user-1",
        "u1@example.com",
        body["room_name"],
    )
    assert parse_utc(body["expires_at"]).timestamp() == claims["exp"]


@pytest.mark.parametrize("kwargs", [{"json": {}}, {}, {"content": b""}])
async def test_agent_type_defaults_to_general(client: httpx.AsyncClient, kwargs: dict[str, object]) -> None:
    response = await client.post(BASE, headers=auth_header("user-1"), **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 201
    assert response.json()["agent_type"] == "general"


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"agent_type": "yoga"}, "agent_type"),
        ({"agent_type": None}, "agent_type"),
        ({"agent_type": "workout", "extra": 1}, "extra"),
        ([], "body"),
    ],
)
async def test_invalid_bodies_are_422_and_create_nothing(
    client: httpx.AsyncClient,
    memory_gateway: InMemoryRoomGateway,
    body: object,
    mentions: str,
) -> None:
    response = await client.post(BASE, json=body, headers=auth_header("user-1"))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert mentions in detail
    assert memory_gateway.room_names == frozenset()


async def test_malformed_json_is_422_and_creates_nothing(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    response = await client.post(
        BASE,
        content=b'{"agent_type": "diet"',
        headers={**auth_header("user-1"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert list(response.json()) == ["detail"]
    assert memory_gateway.room_names == frozenset()


async def test_a_user_id_that_cannot_name_a_room_is_422_not_500(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    response = await client.post(BASE, json={}, headers=auth_header("user with spaces"))
    assert response.status_code == 422
    assert "user id" in response.json()["detail"]
    assert memory_gateway.room_names == frozenset()


async def test_status_reports_participants_and_agent(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    created = (await client.post(BASE, json={}, headers=auth_header("user-1"))).json()
    room = created["room_name"]
    memory_gateway.join(room, "user-1")
    memory_gateway.join(room, "coach", ParticipantKind.AGENT)
    response = await client.get(f"{BASE}/{room}", headers=auth_header("user-1"))
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("room_name", "active", "participant_count", "agent_connected")} == {
        "room_name": room,
        "active": True,
        "participant_count": 2,
        "agent_connected": True,
    }
    parse_utc(body["created_at"])


async def test_end_answers_ended_then_404(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    room = (await client.post(BASE, json={}, headers=auth_header("user-1"))).json()["room_name"]
    response = await client.delete(f"{BASE}/{room}", headers=auth_header("user-1"))
    assert (response.status_code, response.json()) == (200, {"status": "ended", "room_name": room})
    assert memory_gateway.room_names == frozenset()
    again = await client.delete(f"{BASE}/{room}", headers=auth_header("user-1"))
    assert (again.status_code, again.json()) == (404, {"detail": "Voice session not found"})


async def test_list_shows_only_the_callers_sessions(client: httpx.AsyncClient) -> None:
    assert (await client.get(BASE, headers=auth_header("user-1"))).json() == {"sessions": []}
    mine = (await client.post(BASE, json={"agent_type": "diet"}, headers=auth_header("user-1"))).json()
    await client.post(BASE, json={}, headers=auth_header("user-1-2"))
    response = await client.get(BASE, headers=auth_header("user-1"))
    assert response.status_code == 200
    [item] = response.json()["sessions"]
    assert set(item) == {
        "room_name",
        "agent_type",
        "participant_count",
        "agent_connected",
        "agent_state",
        "created_at",
    }
    assert (item["room_name"], item["agent_type"], item["participant_count"], item["agent_state"]) == (
        mine["room_name"],
        "diet",
        0,
        "pending",  # nobody is waiting for an agent yet
    )
    parse_utc(item["created_at"])


async def test_someone_elses_session_is_403_and_left_alone(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    room = (await client.post(BASE, json={}, headers=auth_header("owner"))).json()["room_name"]
    for method in ("GET", "DELETE"):
        response = await client.request(method, f"{BASE}/{room}", headers=auth_header("intruder"))
        assert (response.status_code, response.json()) == (
            403,
            {"detail": "This voice session belongs to another user"},
        )
    assert memory_gateway.room_names == {room}


@pytest.mark.parametrize(
    "name",
    [
        "fitness-voice-user-1-0123456789abcdef",  # well-formed but missing
        "x" * 5000,
        "fitness-voice-user-1-0123456789abcdef%00",
        "%00",
        "fitness voice",
        "fitness-voice-%C3%BCser-0123456789abcdef",
        "..",
    ],
)
async def test_impossible_or_missing_names_are_404_without_reaching_livekit(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway, name: str
) -> None:
    if name != "fitness-voice-user-1-0123456789abcdef":
        memory_gateway.fail("get_room", "list_participants", "delete_room")  # would be a 500
    for method in ("GET", "DELETE"):
        response = await client.request(method, f"{BASE}/{name}", headers=auth_header("user-1"))
        assert response.status_code == 404, (method, name, response.text)
        assert list(response.json()) == ["detail"]


async def test_livekit_failures_are_a_generic_500_and_logged_with_context(
    client: httpx.AsyncClient,
    memory_gateway: InMemoryRoomGateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    room = (await client.post(BASE, json={}, headers=auth_header("user-1"))).json()["room_name"]
    memory_gateway.fail("create_room", "get_room", "get_rooms", "list_participants", "delete_room")
    caplog.set_level(logging.INFO)
    answers = [
        await client.post(BASE, json={}, headers=auth_header("user-1")),
        await client.get(f"{BASE}/{room}", headers=auth_header("user-1")),
        await client.delete(f"{BASE}/{room}", headers=auth_header("user-1")),
        await client.get(BASE, headers=auth_header("user-1")),
    ]
    for response in answers:
        assert response.status_code == 500
        assert response.json() == {"detail": "The voice service is temporarily unavailable; please retry"}
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.operation for r in failures] == ["create_room", "get_room", "get_room", "get_rooms"]  # type: ignore[attr-defined]
    assert all(r.exc_info for r in failures)
    assert memory_gateway.room_names == {room}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer not-a-jwt",
        "Basic dXNlcjpwYXNz",
        "Bearer " + bearer("user-1", secret="another-secret-that-is-long-enough-000"),
        "Bearer " + bearer("user-1", ttl=-3600),
        "Bearer " + jwt.encode({"sub": "user-1", "exp": 9999999999}, key="", algorithm="none"),
        "Bearer " + jwt.encode({"sub": "user-1"}, AUTH_SECRET, algorithm="HS256"),  # no exp
        "Bearer " + jwt.encode({"exp": 9999999999}, AUTH_SECRET, algorithm="HS256"),  # no sub
        "Bearer " + jwt.encode({"sub": "", "exp": 9999999999}, AUTH_SECRET, algorithm="HS256"),
        "Bearer " + jwt.encode({"sub": "u", "exp": 9999999999, "email": 5}, AUTH_SECRET, algorithm="HS256"),
        "Bearer " + jwt.encode({"sub": "u", "exp": 9999999999}, AUTH_SECRET + "x" * 40, algorithm="HS512"),
    ],
)
async def test_every_endpoint_needs_a_valid_bearer_token(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path in [
        ("POST", BASE),
        ("GET", BASE),
        ("GET", f"{BASE}/fitness-voice-user-1-0123456789abcdef"),
        ("DELETE", f"{BASE}/fitness-voice-user-1-0123456789abcdef"),
    ]:
        response = await client.request(method, path, headers=headers, json={} if method == "POST" else None)
        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json() == {"detail": "Not authenticated"}
    assert memory_gateway.room_names == frozenset()


async def test_request_ids_are_echoed_or_made(client: httpx.AsyncClient) -> None:
    echoed = await client.get(BASE, headers={**auth_header("u"), "X-Request-ID": "req-123"})
    assert echoed.headers["X-Request-ID"] == "req-123"
    made = await client.get(BASE, headers=auth_header("u"))
    assert len(made.headers["X-Request-ID"]) == 32
    unauthenticated = await client.get(BASE, headers={"X-Request-ID": "req-456"})
    assert unauthenticated.headers["X-Request-ID"] == "req-456"
    hostile = await client.get(BASE, headers={**auth_header("u"), "X-Request-ID": "bad id\tinjected=1"})
    assert hostile.headers["X-Request-ID"] != "bad id\tinjected=1"
    missing_route = await client.get("/nowhere", headers={"X-Request-ID": "req-789"})
    assert (missing_route.status_code, missing_route.headers["X-Request-ID"]) == (404, "req-789")


async def test_session_events_are_logged_at_info_with_context_and_no_token(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    headers = {**auth_header("user-1", "u1@example.com"), "X-Request-ID": "req-log"}
    created = (await client.post(BASE, json={"agent_type": "tracker"}, headers=headers)).json()
    room = created["room_name"]
    await client.get(f"{BASE}/{room}", headers=headers)
    await client.get(BASE, headers=headers)
    await client.delete(f"{BASE}/{room}", headers=headers)

    events = {
        r.getMessage(): r
        for r in caplog.records
        if r.name in {"voicecore.core.live_sessions", "voicecore.core.creation"}
    }
    assert set(events) == {
        "voice session created",
        "voice session status queried",
        "voice sessions listed",
        "voice session ended",
    }
    for message, record in events.items():
        assert record.levelno == logging.INFO
        assert record.user_id == "user-1"  # type: ignore[attr-defined]
        if message != "voice sessions listed":
            assert (record.room_name, record.agent_type) == (room, "tracker")  # type: ignore[attr-defined]
    everything = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert created["token"] not in everything
    assert headers["Authorization"].split()[1] not in everything


async def test_health_and_readiness(client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready", "journal": "ok"}
    memory_gateway.fail("ping")
    not_ready = await client.get("/readyz")
    assert (not_ready.status_code, not_ready.json()) == (503, {"detail": "LiveKit is not reachable"})
    assert (await client.get("/healthz")).status_code == 200


async def test_an_unexpected_failure_is_a_generic_500_with_the_request_id_logged_once(
    client: httpx.AsyncClient,
    memory_gateway: InMemoryRoomGateway,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(name: str) -> None:
        raise RuntimeError("internal detail http://10.0.0.1 must not leak")

    monkeypatch.setattr(memory_gateway, "get_room", broken)
    response = await client.get(
        f"{BASE}/fitness-voice-user-1-0123456789abcdef",
        headers={**auth_header("user-1"), "X-Request-ID": "req-boom"},
    )
    assert (response.status_code, response.json()) == (500, {"detail": "Internal server error"})
    assert response.headers["X-Request-ID"] == "req-boom"
    assert "internal detail" not in response.text
    [logged] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged.getMessage() == "unexpected failure"
    assert logged.exc_info is not None


async def test_formatted_log_lines_of_a_failing_session_hold_no_token_or_secret(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    root = logging.getLogger()
    handlers = []
    for formatter in (JsonFormatter(), PlainFormatter()):
        handler = Collect(logging.DEBUG)
        handler.setFormatter(formatter)
        handler.addFilter(RequestContextFilter())
        handlers.append(handler)
        root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        headers = auth_header("user-1", "u1@example.com")
        created = (await client.post(BASE, json={}, headers=headers)).json()
        memory_gateway.fail("get_room", "list_participants", "list_rooms", "delete_room")
        await client.get(f"{BASE}/{created['room_name']}", headers=headers)
        await client.delete(f"{BASE}/{created['room_name']}", headers=headers)
        await client.get(BASE, headers=headers)
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(previous_level)
    text = "\n".join(lines)
    assert "LiveKit call failed" in text  # the failures were logged, with their tracebacks
    assert "Traceback" in text
    for secret in (created["token"], headers["Authorization"].split()[1], TEST_API_SECRET, AUTH_SECRET):
        assert secret not in text
