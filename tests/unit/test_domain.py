"""Naming and metadata rules, with hypothesis properties."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from voicecore.core.domain import (
    MAX_ROOM_NAME_LENGTH,
    MAX_USER_ID_LENGTH,
    ROOM_NAME_PREFIX,
    AgentType,
    RoomMetadata,
    SessionMode,
    new_room_name,
    owner_of,
    room_name_user_id,
    validate_user_id,
)
from voicecore.core.errors import InvalidUserId, MetadataNotReadable

SAFE_CHARS = string.ascii_letters + string.digits + "._~-"
user_ids = st.text(alphabet=SAFE_CHARS, min_size=1, max_size=MAX_USER_ID_LENGTH)
aware_datetimes = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.just(UTC)
)


@given(user_ids)
@example("42")
@example("42-7")
@example("-")
@example("a" * MAX_USER_ID_LENGTH)
def test_names_match_the_format_and_parse_back_to_their_user(user_id: str) -> None:
    name = new_room_name(user_id)
    assert name.startswith(f"{ROOM_NAME_PREFIX}{user_id}-")
    suffix = name.rsplit("-", 1)[1]
    assert len(suffix) == 16
    assert set(suffix) <= set("0123456789abcdef")
    assert len(name) <= MAX_ROOM_NAME_LENGTH
    assert room_name_user_id(name) == user_id


@given(st.lists(user_ids, min_size=2, max_size=5, unique=True))
@example(["42", "42-7"])
@example(["a", "a-0123456789abcdef"])
def test_no_users_name_can_be_taken_for_another_users(ids: list[str]) -> None:
    for owner in ids:
        name = new_room_name(owner)
        assert [other for other in ids if room_name_user_id(name) == other] == [owner]


@settings(max_examples=50)
@given(user_ids)
def test_names_do_not_collide(user_id: str) -> None:
    names = {new_room_name(user_id) for _ in range(200)}
    assert len(names) == 200


@given(st.text(max_size=300).filter(lambda s: not s or any(c not in SAFE_CHARS for c in s)))
@example("")
@example("user/1")
@example("user\x00")
@example("über")
@example("a b")
def test_unsafe_user_ids_are_refused_with_a_domain_error(user_id: str) -> None:
    with pytest.raises(InvalidUserId):
        new_room_name(user_id)


def test_a_user_id_one_character_too_long_is_refused() -> None:
    validate_user_id("a" * MAX_USER_ID_LENGTH)
    with pytest.raises(InvalidUserId, match="longer than"):
        validate_user_id("a" * (MAX_USER_ID_LENGTH + 1))


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
        "fitness-voice-" + "a" * (MAX_USER_ID_LENGTH + 1) + "-0123456789abcdef",
    ],
)
def test_names_voicecore_never_makes_have_no_user(name: str) -> None:
    assert room_name_user_id(name) is None


@given(user_ids, st.sampled_from(AgentType), aware_datetimes)
def test_metadata_round_trips(user_id: str, agent_type: AgentType, created_at: datetime) -> None:
    metadata = RoomMetadata(user_id, agent_type, SessionMode.VOICE, created_at)
    encoded = metadata.encode()
    assert RoomMetadata.decode(encoded) == metadata
    assert json.loads(encoded)["created_at"].endswith("+00:00")


def test_metadata_is_stored_in_utc_whatever_the_offset_given() -> None:
    plus_two = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    decoded = RoomMetadata.decode(RoomMetadata("u", AgentType.DIET, SessionMode.VOICE, plus_two).encode())
    assert decoded.created_at == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert decoded.created_at.utcoffset() == timedelta(0)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)
near_miss = st.fixed_dictionaries(
    {
        "v": st.sampled_from([1, 2, True, "1", 1.0, None]),
        "user_id": st.one_of(st.text(), st.integers(), st.none()),
        "agent_type": st.one_of(st.sampled_from([*AgentType, "yoga", ""]), st.integers()),
        "mode": st.sampled_from(["voice", "video", 0]),
        "created_at": st.one_of(
            st.sampled_from(
                ["2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00", "0001-01-01T00:00:00+01:00", "x"]
            ),
            st.text(),
        ),
    }
)


@given(st.one_of(st.text(), json_values.map(json.dumps), near_miss.map(json.dumps)))
@example("[" * 100_000)
@example('{"v": 1}')
@example("")
def test_garbage_metadata_is_only_ever_not_readable(raw: str) -> None:
    try:
        decoded = RoomMetadata.decode(raw)
    except MetadataNotReadable:
        assert owner_of(raw) is None
    else:
        assert decoded.encode() == RoomMetadata.decode(decoded.encode()).encode()
        assert owner_of(raw) == decoded


def test_metadata_without_a_utc_offset_is_not_readable() -> None:
    raw = json.dumps(
        {"v": 1, "user_id": "u", "agent_type": "diet", "mode": "voice", "created_at": "2026-01-01T00:00:00"}
    )
    with pytest.raises(MetadataNotReadable, match="offset"):
        RoomMetadata.decode(raw)
