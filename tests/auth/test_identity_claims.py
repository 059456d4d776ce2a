"""The JWT's `email` becomes the participant name only when it follows participant_name's rule (issue 23).

At most 128 characters, no control character (C0, DEL, C1): otherwise the name the
LiveKit token carries, and the one the API answers, is the user id. One rule for
both, and for a host's user too (the core decides).
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.constants import BASE, TEST_API_SECRET
from tests.support.tokens import auth_header
from voicecore.core.domain import User

DETAILS = f"{BASE}/connection-details"
SHOWN = ["alex@example.com", "a" * 128, "Zoë 山田 <z@example.com>"]
LEFT_OUT = [
    "a" * 129,
    "x" * 10_000,
    "alex\n@example.com",
    "alex@example.com\n",
    "\n",
    "alex\x00@example.com",
    "bell\x07",
    "c1\x85",
    "\x7f",
]


def name_in(token: str) -> Any:
    return jwt.decode(token, TEST_API_SECRET, algorithms=["HS256"])["name"]


@pytest.mark.parametrize("email", SHOWN)
async def test_an_email_that_can_be_a_name_is_the_participant_name(
    client: httpx.AsyncClient, email: str
) -> None:
    created = await client.post(BASE, json={}, headers=auth_header("claims-user", email))
    assert created.status_code == 201
    assert name_in(created.json()["token"]) == email
    details = await client.post(DETAILS, json={}, headers=auth_header("claims-user", email))
    assert (details.json()["participant_name"], name_in(details.json()["participant_token"])) == (email,) * 2


@pytest.mark.parametrize("email", LEFT_OUT)
async def test_an_email_that_cannot_be_a_name_is_left_out_for_the_user_id(
    client: httpx.AsyncClient, email: str
) -> None:
    created = await client.post(BASE, json={}, headers=auth_header("claims-user", email))
    assert created.status_code == 201
    assert name_in(created.json()["token"]) == "claims-user"
    details = await client.post(DETAILS, json={}, headers=auth_header("claims-user", email))
    assert details.status_code == 201
    assert details.json()["participant_name"] == "claims-user"
    assert name_in(details.json()["participant_token"]) == "claims-user"


@pytest.mark.parametrize("name", ["c1\x85", "\x9b[2J"])
async def test_participant_name_refuses_c1_control_characters_too(
    client: httpx.AsyncClient, name: str
) -> None:
    answer = await client.post(DETAILS, json={"participant_name": name}, headers=auth_header("claims-user"))
    assert answer.status_code == 422
    assert "participant_name" in answer.json()["detail"]


def _can_be_a_name(text: str) -> bool:
    return 0 < len(text) <= 128 and not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


@given(email=st.text(max_size=140) | st.text(alphabet=st.characters(max_codepoint=0xA0), max_size=140))
def test_an_email_is_the_display_name_exactly_when_it_can_be_a_name(email: str) -> None:
    shown = User(id="user-1", email=email).display_name
    assert shown == (email if _can_be_a_name(email) else "user-1")
