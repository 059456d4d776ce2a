"""The room naming rule over the whole allowed alphabet of user ids."""

from __future__ import annotations

import string
from urllib.parse import quote

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.support.strategies import plain_user_ids, user_ids
from voicecore.core.errors import InvalidUserId
from voicecore.core.naming import (
    MAX_ESCAPED_USER_ID_LENGTH,
    MAX_ROOM_NAME_LENGTH,
    ROOM_NAME_PREFIX,
    USER_ID_CHARACTERS,
    escape_user_id,
    new_room_name,
    room_name_user_id,
)

REAL_IDS = ["auth0|64f1c2", "google-oauth2|1234", "user:42", "ada@example.com", "a+b/c@d", "~tilde", "42-7"]


@given(user_ids)
@example("42")
@example("42-7")
@example("-")
@example("~")
@example("a" * MAX_ESCAPED_USER_ID_LENGTH)
@example("|" * (MAX_ESCAPED_USER_ID_LENGTH // 3))
def test_names_match_the_format_and_parse_back_to_their_user(user_id: str) -> None:
    name = new_room_name(user_id)
    assert name.startswith(f"{ROOM_NAME_PREFIX}{escape_user_id(user_id)}-")
    suffix = name.rsplit("-", 1)[1]
    assert len(suffix) == 16
    assert set(suffix) <= set("0123456789abcdef")
    assert len(name) <= MAX_ROOM_NAME_LENGTH
    assert room_name_user_id(name) == user_id


@pytest.mark.parametrize("user_id", REAL_IDS)
def test_real_identity_provider_ids_make_names_that_are_safe_path_segments(user_id: str) -> None:
    name = new_room_name(user_id)
    assert quote(name, safe="") == name  # nothing a client must percent-encode
    assert room_name_user_id(name) == user_id


@given(plain_user_ids)
def test_ids_of_url_safe_characters_stand_in_the_name_as_they_are(user_id: str) -> None:
    assert escape_user_id(user_id) == user_id


@given(st.lists(user_ids, min_size=2, max_size=5, unique=True))
@example(["42", "42-7"])
@example(["auth0|42", "auth0|42-7"])
@example(["a", "a-0123456789abcdef"])
@example(["~7C", "|"])
def test_no_users_name_can_be_taken_for_another_users(ids: list[str]) -> None:
    for owner in ids:
        name = new_room_name(owner)
        assert [other for other in ids if room_name_user_id(name) == other] == [owner]


@given(user_ids, user_ids)
def test_the_escape_is_injective(first: str, second: str) -> None:
    assert (escape_user_id(first) == escape_user_id(second)) == (first == second)


@given(st.text(alphabet=string.ascii_letters + string.digits + "-._~ABCDEF", min_size=1, max_size=40))
@example("~7c")  # lower-case hex is not the canonical spelling
@example("~41")  # "A" escaped although it is safe
@example("~")
@example("~7")
def test_only_the_canonical_spelling_of_an_id_parses(escaped: str) -> None:
    name = f"{ROOM_NAME_PREFIX}{escaped}-0123456789abcdef"
    user_id = room_name_user_id(name)
    if user_id is not None:
        assert escape_user_id(user_id) == escaped


@settings(max_examples=50)
@given(user_ids)
def test_names_do_not_collide(user_id: str) -> None:
    names = {new_room_name(user_id) for _ in range(200)}
    assert len(names) == 200


@given(st.text(max_size=300).filter(lambda s: not s or any(c not in USER_ID_CHARACTERS for c in s)))
@example("")
@example("user\x00")
@example("über")
@example("a b")
@example("tab\there")
def test_ids_with_spaces_control_or_non_ascii_characters_are_refused(user_id: str) -> None:
    with pytest.raises(InvalidUserId):
        new_room_name(user_id)


def test_an_id_whose_escaped_form_does_not_fit_is_refused() -> None:
    escape_user_id("a" * MAX_ESCAPED_USER_ID_LENGTH)
    with pytest.raises(InvalidUserId, match="more than"):
        escape_user_id("a" * (MAX_ESCAPED_USER_ID_LENGTH + 1))
    with pytest.raises(InvalidUserId, match="more than"):
        escape_user_id("|" * (MAX_ESCAPED_USER_ID_LENGTH // 3 + 1))


@pytest.mark.parametrize(
    "name",
    [
        "",
        "fitness-voice-",
        "fitness-voice-42",
        "fitness-voice-42-0123456789ABCDEF",  # upper-case hex is never made
        "fitness-voice-42-0123456789abcde",  # 15 hex
        "fitness-voice-42-0123456789abcdef0",  # 17 hex
        "fitness-voice--0123456789abcdef",  # empty user id
        "other-42-0123456789abcdef",
        "fitness-voice-4 2-0123456789abcdef",
        "fitness-voice-42\x00-0123456789abcdef",
        "fitness-voice-a|b-0123456789abcdef",  # unescaped
        "fitness-voice-~20-0123456789abcdef",  # an escaped space: never an id
        "fitness-voice-" + "a" * (MAX_ESCAPED_USER_ID_LENGTH + 1) + "-0123456789abcdef",
    ],
)
def test_names_voicecore_never_makes_have_no_user(name: str) -> None:
    assert room_name_user_id(name) is None
