"""LiveKit's standard token endpoint (TokenSource.endpoint): start or rejoin, and only the fields we allow.

docs/http-api.md "LiveKit's standard token endpoint". On the in-memory gateway, as a property
over any body, and on the real server.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from livekit import api

from tests.support.apps import LoopHarness, check_error, service_container
from tests.support.constants import AGENT_NAME as AGENT
from tests.support.constants import (
    BASE,
    CONFIGURED_LIVEKIT_URL,
    DETAILS,
    NOT_AUTHENTICATED,
    NOT_FOUND,
    NOT_OWNER,
    TEST_API_KEY,
    TEST_API_SECRET,
)
from tests.support.leak_guard import LeakGuard
from tests.support.livekit import rooms_of, unique_user_id
from tests.support.tokens import auth_header, join_claims
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway


async def test_connection_details_without_a_room_starts_a_session(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    response = await client.post(
        f"{DETAILS}?agent_type=workout", json={}, headers=auth_header("user-1", "u1@example.com")
    )
    assert response.status_code == 201
    body = response.json()
    # LiveKit's four fields, plus the session's hard end under the suite's default bounds
    assert set(body) == {"server_url", "participant_token", "room_name", "participant_name", "ends_at"}
    assert datetime.fromisoformat(body["ends_at"]) > datetime.now(UTC)
    assert (body["server_url"], body["participant_name"]) == (CONFIGURED_LIVEKIT_URL, "u1@example.com")
    token = join_claims(body["participant_token"])
    assert (token["sub"], token["name"], token["video"]["room"]) == (
        "user-1",
        "u1@example.com",
        body["room_name"],
    )
    assert memory_gateway.room_names == {body["room_name"]}
    listed = (await client.get(BASE, headers=auth_header("user-1"))).json()["sessions"]
    assert [(s["room_name"], s["agent_type"]) for s in listed] == [(body["room_name"], "workout")]


@pytest.mark.parametrize("kwargs", [{}, {"json": {}}, {"content": b""}])
async def test_the_agent_type_defaults_to_general(client: httpx.AsyncClient, kwargs: dict[str, Any]) -> None:
    response = await client.post(DETAILS, headers=auth_header("user-1"), **kwargs)
    assert response.status_code == 201
    [listed] = (await client.get(BASE, headers=auth_header("user-1"))).json()["sessions"]
    assert listed["agent_type"] == "general"


async def test_an_unknown_agent_type_is_422_and_creates_nothing(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    response = await client.post(f"{DETAILS}?agent_type=yoga", json={}, headers=auth_header("user-1"))
    assert response.status_code == 422
    assert "agent_type" in response.json()["detail"]
    assert memory_gateway.room_names == frozenset()


async def test_connection_details_with_the_callers_room_rejoins(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    headers = auth_header("user-1")
    first = (await client.post(DETAILS, json={}, headers=headers)).json()
    again = await client.post(
        f"{DETAILS}?agent_type=diet",  # ignored on rejoin
        json={"room_name": first["room_name"], "participant_identity": "user-1", "participant_name": "Alex"},
        headers=headers,
    )
    assert again.status_code == 201
    body = again.json()
    assert (body["room_name"], body["participant_name"]) == (first["room_name"], "Alex")
    assert join_claims(body["participant_token"])["name"] == "Alex"
    assert memory_gateway.room_names == {first["room_name"]}
    [listed] = (await client.get(BASE, headers=headers)).json()["sessions"]
    assert listed["agent_type"] == "general"


async def test_connection_details_for_someone_elses_or_a_missing_room(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway, log_leak_guard: LeakGuard
) -> None:
    room = (await client.post(DETAILS, json={}, headers=auth_header("owner"))).json()["room_name"]
    intruder = auth_header("intruder")
    check_error(
        await client.post(DETAILS, json={"room_name": room}, headers=intruder), NOT_OWNER, log_leak_guard
    )
    missing = {"room_name": "fitness-voice-intruder-0123456789abcdef"}
    check_error(await client.post(DETAILS, json=missing, headers=intruder), NOT_FOUND, log_leak_guard)
    check_error(await client.post(DETAILS, json={}), NOT_AUTHENTICATED, log_leak_guard)
    assert memory_gateway.room_names == {room}


REFUSED = [
    ({"participant_identity": "someone-else"}, "participant_identity"),
    ({"participant_metadata": '{"role": "admin"}'}, "participant_metadata"),
    ({"participant_attributes": {"role": "admin"}}, "participant_attributes"),
    ({"room_config": {"max_participants": 10}}, "room_config.max_participants"),
    ({"room_config": {"name": "my-own-room"}}, "room_config.name"),
    ({"room_config": {"metadata": "{}"}}, "room_config.metadata"),
    ({"room_config": {"departure_timeout": 3600}}, "room_config.departure_timeout"),
    ({"room_config": {"agents": [{"agent_name": "another-agent"}]}}, "room_config.agents[0].agent_name"),
    (
        {"room_config": {"agents": [{"agent_name": AGENT, "metadata": "x"}]}},
        "room_config.agents[0].metadata",
    ),
    ({"room_config": {"agents": [{"deployment": "staging"}]}}, "room_config.agents[0].deployment"),
    (
        {"room_config": {"agents": [{"agent_name": AGENT}, {"agent_name": AGENT}]}},
        "room_config.agents",
    ),
]


@pytest.mark.parametrize("refused", REFUSED)
@pytest.mark.parametrize("rejoining", [False, True])
async def test_fields_the_caller_may_not_set_are_refused_by_name_and_change_nothing(
    agent_client: httpx.AsyncClient,
    memory_gateway: InMemoryRoomGateway,
    log_leak_guard: LeakGuard,
    refused: tuple[dict[str, Any], str],
    rejoining: bool,
) -> None:
    body, field = refused
    headers = auth_header("user-1")
    rooms_before: set[str] = set()
    if rejoining:
        room = (await agent_client.post(BASE, json={}, headers=headers)).json()["room_name"]
        memory_gateway.finish_dispatches(room)  # a rejoin would send the agent again
        body = {**body, "room_name": room}
        rooms_before = {room}
    response = await agent_client.post(DETAILS, json=body, headers=headers)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith(f"Field not allowed: {field} ("), detail
    check_error(response, {"detail": detail}, log_leak_guard)
    assert memory_gateway.room_names == rooms_before
    for room in rooms_before:
        assert len(memory_gateway.dispatches_of(room)) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"participant_identity": "user-1"},
        {"participant_identity": "", "participant_metadata": "", "participant_attributes": {}},
        {"room_config": {}},  # what the Swift and Android SDKs send when no agent is named
        {"room_config": {"agents": [{"agent_name": AGENT}]}},
        {"room_config": {"agents": [{"agent_name": "", "metadata": ""}], "max_participants": 0}},
    ],
)
async def test_what_a_client_sdk_sends_unasked_is_accepted(
    agent_client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await agent_client.post(DETAILS, json=body, headers=auth_header("user-1"))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"participantIdentity": "user-1"}, "participantIdentity"),
        ({"room_config": {"agents": [{"agent_name": AGENT, "surprise": 1}]}}, "surprise"),
        ({"participant_name": "x" * 129}, "participant_name"),
        ({"participant_name": "bell\x07"}, "participant_name"),
    ],
)
async def test_unknown_fields_and_bad_names_are_422_and_create_nothing(
    agent_client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway, body: dict[str, Any], mentions: str
) -> None:
    response = await agent_client.post(DETAILS, json=body, headers=auth_header("user-1"))
    assert response.status_code == 422
    assert mentions in response.json()["detail"]
    assert memory_gateway.room_names == frozenset()


async def test_without_an_agent_configured_no_agent_may_be_named(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    body = {"room_config": {"agents": [{"agent_name": AGENT}]}}
    response = await client.post(DETAILS, json=body, headers=auth_header("user-1"))
    assert response.status_code == 422
    assert memory_gateway.room_names == frozenset()


async def test_forbidden_fields_create_nothing_on_the_real_server(
    agent_service: httpx.AsyncClient, lk: api.LiveKitAPI
) -> None:
    user = unique_user_id("member")
    headers = auth_header(user)
    room = (await agent_service.post(DETAILS, json={}, headers=headers)).json()["room_name"]
    dispatches_before = len(await lk.agent_dispatch.list_dispatch(room))
    for body in [
        {"participant_identity": "someone-else"},
        {"participant_metadata": "{}"},
        {"participant_attributes": {"role": "coach"}},
        {"room_config": {"max_participants": 9}},
        {"room_config": {"agents": [{"agent_name": "another-agent"}]}},
        {"room_config": {"agents": [{"agent_name": AGENT, "metadata": "mine"}]}},
    ]:
        for rejoining in ({}, {"room_name": room}):
            response = await agent_service.post(DETAILS, json={**body, **rejoining}, headers=headers)
            assert response.status_code == 422, (body, rejoining)
            assert response.json()["detail"].startswith("Field not allowed: ")
    assert await rooms_of(lk, user) == {room}
    assert len(await lk.agent_dispatch.list_dispatch(room)) == dispatches_before


# --- the rule as a property -------------------------------------------------------------


FIELDS = {
    "participant_identity": st.sampled_from(["", "user-1", "user-2", "USER-1"]),
    "participant_name": st.sampled_from(["", "Alex", "Zoë"]),
    "participant_metadata": st.sampled_from(["", "m"]),
    "participant_attributes": st.sampled_from([{}, {"a": "b"}]),
    "room_config": st.fixed_dictionaries(
        {},
        optional={
            "agents": st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "agent_name": st.sampled_from(["", AGENT, "other"]),
                        "metadata": st.just("x"),
                    },
                ),
                max_size=2,
            ),
            "max_participants": st.sampled_from([0, 5]),
        },
    ),
}


def allowed(body: dict[str, Any]) -> bool:
    config = body.get("room_config", {})
    agents = config.get("agents", [])
    return (
        body.get("participant_identity", "") in ("", "user-1")
        and not body.get("participant_metadata")
        and not body.get("participant_attributes")
        and not config.get("max_participants")
        and len(agents) <= 1
        and all(entry.get("agent_name", "") in ("", AGENT) and not entry.get("metadata") for entry in agents)
    )


@pytest.fixture(scope="module")
def harness() -> Any:
    gateway = InMemoryRoomGateway()
    container = service_container(
        CONFIGURED_LIVEKIT_URL,
        TEST_API_KEY,
        TEST_API_SECRET,
        room_gateway=gateway,
        LIVEKIT_AGENT_NAME=AGENT,
    )
    loop_harness = LoopHarness(container)
    yield loop_harness, gateway
    loop_harness.close()


@settings(max_examples=150)
@given(body=st.fixed_dictionaries({}, optional=FIELDS))
def test_a_request_creates_a_session_exactly_when_every_field_is_allowed(
    harness: tuple[LoopHarness, InMemoryRoomGateway], body: dict[str, Any]
) -> None:
    loop_harness, gateway = harness
    before = gateway.room_names
    response = loop_harness.run(loop_harness.client.post(DETAILS, json=body, headers=auth_header("user-1")))
    if allowed(body):
        assert response.status_code == 201, response.text
        assert gateway.room_names - before == {response.json()["room_name"]}
        assert response.json()["participant_name"] == (body.get("participant_name") or "user-1")
    else:
        assert response.status_code == 422, response.text
        assert response.json()["detail"].startswith("Field not allowed: ")
        assert gateway.room_names == before
