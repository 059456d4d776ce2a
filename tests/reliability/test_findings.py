"""Bugs the reliability suites found, kept as regression tests now that they are fixed."""

from __future__ import annotations

import httpx
import pytest

from tests.support.apps import check_clean_body
from tests.support.constants import BASE
from tests.support.leak_guard import LeakGuard
from tests.support.tokens import auth_header
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway


@pytest.mark.parametrize(
    "body",
    [b"\xc3\x28", b'{"agent_type": "\xe9"}', b"\x80"],
    ids=["invalid-pair", "latin-1-inside-json", "lone-continuation-byte"],
)
async def test_a_body_that_is_not_utf8_is_the_documented_422(
    client: httpx.AsyncClient,
    memory_gateway: InMemoryRoomGateway,
    log_leak_guard: LeakGuard,
    body: bytes,
) -> None:
    response = await client.post(
        BASE, content=body, headers={**auth_header("user-1"), "Content-Type": "application/json"}
    )
    assert memory_gateway.room_names == frozenset()  # holds today: nothing is created
    check_clean_body(response.text, log_leak_guard)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("Invalid request")


async def test_a_body_nested_past_the_parsers_limit_is_the_documented_422(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway, log_leak_guard: LeakGuard
) -> None:
    # Deeper than the JSON parser's recursion limit, and within HTTP_MAX_BODY_BYTES.
    response = await client.post(
        BASE, content=b"[" * 5_000, headers={**auth_header("user-1"), "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json() == {"detail": "Invalid request: body: not valid JSON"}
    assert memory_gateway.room_names == frozenset()
    check_clean_body(response.text, log_leak_guard)
