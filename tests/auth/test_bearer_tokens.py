"""The standalone service's bearer check: a valid HS256 JWT on every endpoint, and only what it should
accept (issuer, audience, type and lifetime); docs/http-api.md "Authentication".

In-process on the in-memory gateway and on the real LiveKit server (a 200 lists the caller's
sessions there), then on the wire against the service as production runs it; the lifetime rule
is also a property of the check itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from tests.support.apps import service_container, serving
from tests.support.constants import AUTH_SECRET, BASE
from tests.support.livekit import unique_user_id
from tests.support.service_process import ServiceProcess, exchange, head_and_body, raw_get, status_of
from tests.support.tokens import auth_header, bearer
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore.testing.livekit_server import LocalLiveKitServer
from voicecore_http.auth import JwtAuthenticator, NotAuthenticated

ISSUER = "https://auth.shuren.test"
AUDIENCE = "voicecore"
DAY = 24 * 3600


def token(headers: dict[str, object] | None = None, **claims: object) -> str:
    now = int(time.time())
    payload: dict[str, object] = {"sub": unique_user_id("tok"), "iat": now, "exp": now + 600}
    payload.update(claims)
    for name in [name for name, value in payload.items() if value is None]:
        del payload[name]
    return jwt.encode(payload, AUTH_SECRET, algorithm="HS256", headers=headers)


@pytest.fixture
async def default_app(livekit_server: LocalLiveKitServer) -> AsyncIterator[httpx.AsyncClient]:
    container = service_container(livekit_server.url, livekit_server.api_key, livekit_server.api_secret)
    async with serving(container) as client:
        yield client


@pytest.fixture
async def strict_app(livekit_server: LocalLiveKitServer) -> AsyncIterator[httpx.AsyncClient]:
    container = service_container(
        livekit_server.url,
        livekit_server.api_key,
        livekit_server.api_secret,
        AUTH_JWT_ISSUER=ISSUER,
        AUTH_JWT_AUDIENCE=AUDIENCE,
    )
    async with serving(container) as client:
        yield client


async def status_with(client: httpx.AsyncClient, bearer_token: str) -> int:
    return (await client.get(BASE, headers={"Authorization": f"Bearer {bearer_token}"})).status_code


@pytest.mark.parametrize(
    ("claims", "headers", "expected"),
    [
        ({}, None, 200),
        ({"iat": None}, None, 200),
        ({"token_type": "access"}, None, 200),
        ({"typ": "Bearer"}, None, 200),
        ({}, {"typ": "at+jwt"}, 200),
        ({"token_type": "refresh"}, None, 401),
        ({"type": "refresh"}, None, 401),
        ({"typ": "Refresh"}, None, 401),
        ({"token_use": "id"}, None, 401),
        ({}, {"typ": "refresh+jwt"}, 401),
        ({"aud": "another-service"}, None, 401),
        ({"exp": int(time.time()) + 100 * 365 * DAY}, None, 401),
        ({"exp": int(time.time()) + 100 * 365 * DAY, "iat": None}, None, 401),
        ({"iat": int(time.time()) - 2 * DAY, "exp": int(time.time()) + 600}, None, 401),
        ({"iat": int(time.time()) + 3600}, None, 401),
    ],
    ids=[
        "plain access token",
        "no iat",
        "token_type access",
        "typ Bearer",
        "header typ at+jwt",
        "token_type refresh",
        "type refresh",
        "typ Refresh",
        "token_use id",
        "header typ refresh",
        "another service's audience",
        "100-year exp",
        "100-year exp without iat",
        "issued two days ago",
        "issued in the future",
    ],
)
async def test_by_default_only_short_lived_access_tokens_without_an_audience_pass(
    default_app: httpx.AsyncClient,
    claims: dict[str, object],
    headers: dict[str, object] | None,
    expected: int,
) -> None:
    assert await status_with(default_app, token(headers, **claims)) == expected


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"iss": ISSUER, "aud": AUDIENCE}, 200),
        ({"iss": ISSUER, "aud": ["billing", AUDIENCE]}, 200),
        ({"aud": AUDIENCE}, 401),
        ({"iss": ISSUER}, 401),
        ({"iss": "https://evil.example", "aud": AUDIENCE}, 401),
        ({"iss": ISSUER, "aud": "billing"}, 401),
        ({"iss": ISSUER, "aud": AUDIENCE, "token_type": "refresh"}, 401),
    ],
    ids=["both", "audience among others", "no iss", "no aud", "wrong iss", "wrong aud", "refresh"],
)
async def test_a_configured_issuer_and_audience_are_required_and_checked(
    strict_app: httpx.AsyncClient, claims: dict[str, object], expected: int
) -> None:
    assert await status_with(strict_app, token(**claims)) == expected


@given(
    lifetime=st.integers(min_value=1, max_value=4 * DAY),
    maximum=st.integers(min_value=60, max_value=2 * DAY),
)
def test_a_token_passes_iff_its_lifetime_is_within_the_maximum(lifetime: int, maximum: int) -> None:
    check = JwtAuthenticator(SecretStr(AUTH_SECRET), max_lifetime_seconds=maximum)
    issued = int(time.time()) - 1
    claims = {"sub": "u", "iat": issued, "exp": issued + lifetime}
    candidate = jwt.encode(claims, AUTH_SECRET, algorithm="HS256")
    try:
        check.user_from_token(candidate)
        passed = True
    except NotAuthenticated:
        passed = False
    assert passed == (lifetime <= maximum)


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


@pytest.mark.parametrize(("expired_seconds_ago", "expected"), [(5, 200), (15, 401)])
async def test_exp_has_ten_seconds_of_leeway(
    client: httpx.AsyncClient, expired_seconds_ago: int, expected: int
) -> None:
    expired = jwt.encode(
        {"sub": unique_user_id("leeway"), "exp": int(time.time()) - expired_seconds_ago},
        AUTH_SECRET,
        algorithm="HS256",
    )
    assert await status_with(client, expired) == expected


# --- on the wire ---------------------------------------------------------------------------


async def test_two_authorization_headers_are_refused_even_when_both_are_valid(
    edge_service: ServiceProcess,
) -> None:
    valid = f"Authorization: Bearer {bearer(unique_user_id('dup'))}"
    for second in (valid, "Authorization: Bearer not-a-jwt", "Authorization: Basic dXNlcjpwYXNz"):
        response = await exchange(edge_service.port, raw_get(BASE, valid, second))
        assert status_of(response) == 401, response[:200]
        assert json.loads(head_and_body(response)[1]) == {"detail": "Not authenticated"}
    assert status_of(await exchange(edge_service.port, raw_get(BASE, valid))) == 200


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
async def test_the_bearer_scheme_is_case_insensitive(edge_service: ServiceProcess, scheme: str) -> None:
    token = auth_header(unique_user_id("case"))["Authorization"].removeprefix("Bearer ")
    response = await exchange(edge_service.port, raw_get(BASE, f"Authorization: {scheme} {token}"))
    assert status_of(response) == 200  # RFC 9110 section 11.1: auth schemes are case-insensitive
