"""LiveKit's webhooks: the signature is checked before anything else, so an unsigned request learns nothing.

Whatever bytes and Content-Type an unsigned (or wrongly signed) request carries, it
gets the same 401. Only a signed delivery is then read: not UTF-8, not an event, or
not sent as JSON (LiveKit sends application/webhook+json) is 400 (issue 23).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from livekit import api

from tests.support.apps import LoopHarness, service_container
from tests.support.constants import CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore_http.webhooks import WEBHOOK_PATH

NOT_VERIFIED = {"detail": "Webhook not verified"}
NOT_AN_EVENT = {"detail": "Webhook body is not an event"}
EVENT = json.dumps(
    {
        "event": "room_started",
        "id": "EV_signature_first",
        "createdAt": "1700000000",
        "room": {"name": "lobby"},
    }
).encode()
NOT_UTF8 = b'{"event": "room_started", "id": "EV_\xff\xfe"}'


def signature(body: bytes, secret: str = TEST_API_SECRET) -> str:
    """What LiveKit puts in Authorization: a JWT (no "Bearer ") carrying the body's SHA-256."""
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    return api.AccessToken(TEST_API_KEY, secret).with_sha256(digest).to_jwt()


@pytest.fixture(scope="module")
def service() -> Iterator[LoopHarness]:
    harness = LoopHarness(
        service_container(
            CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET, room_gateway=InMemoryRoomGateway()
        )
    )
    yield harness
    harness.close()


def deliver(
    service: LoopHarness, body: bytes, authorization: str | None, content_type: str | None
) -> httpx.Response:
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization
    if content_type is not None:
        headers["Content-Type"] = content_type
    return service.run(service.client.post(WEBHOOK_PATH, content=body, headers=headers))


# Authorization values that do not sign the body they come with.
UNSIGNED = [
    None,
    "",
    "not-a-jwt",
    "Bearer " + signature(EVENT),
    signature(EVENT, secret="another-secret-that-is-long-enough-0123456789"),
    signature(b"another body"),
    api.AccessToken(TEST_API_KEY, TEST_API_SECRET).to_jwt(),  # signed, but for no body at all
]
CONTENT_TYPES = [
    None,
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/webhook+json",
    "application/json",
]


@settings(max_examples=150)
@given(
    body=st.binary(max_size=300) | st.sampled_from([NOT_UTF8, EVENT, b"", b"{not json"]),
    authorization=st.sampled_from(UNSIGNED),
    content_type=st.sampled_from(CONTENT_TYPES),
)
def test_an_unsigned_request_gets_the_same_401_whatever_it_carries(
    service: LoopHarness, body: bytes, authorization: str | None, content_type: str | None
) -> None:
    answer = deliver(service, body, authorization, content_type)
    assert (answer.status_code, answer.json()) == (401, NOT_VERIFIED)


def test_a_signed_body_that_is_not_utf8_is_400_after_its_signature(service: LoopHarness) -> None:
    answer = deliver(service, NOT_UTF8, signature(NOT_UTF8), "application/webhook+json")
    assert (answer.status_code, answer.json()) == (400, NOT_AN_EVENT)


@pytest.mark.parametrize("content_type", ["application/webhook+json", "application/json; charset=utf-8"])
def test_a_signed_event_sent_as_json_is_accepted(service: LoopHarness, content_type: str) -> None:
    answer = deliver(service, EVENT, signature(EVENT), content_type)
    assert answer.status_code == 200
    assert answer.json()["status"] in ("applied", "ignored")


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_signed_event_not_sent_as_json_is_400(service: LoopHarness, content_type: str | None) -> None:
    answer = deliver(service, EVENT, signature(EVENT), content_type)
    assert (answer.status_code, answer.json()) == (400, NOT_AN_EVENT)
