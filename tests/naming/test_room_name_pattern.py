"""The documented room-name pattern (OpenAPI) agrees with the naming rule."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from tests.support.strategies import user_ids
from voicecore.core.naming import MAX_ROOM_NAME_LENGTH, ROOM_NAME_PATTERN, new_room_name, room_name_user_id

PATTERN = re.compile(ROOM_NAME_PATTERN)


@given(user_ids)
def test_every_name_voicecore_makes_matches_the_pattern(user_id: str) -> None:
    assert PATTERN.fullmatch(new_room_name(user_id))


@given(st.text(alphabet="fitnes-voic~0123456789abcdefABCDEF|._x", max_size=60))
def test_a_name_voicecore_accepts_always_matches_the_pattern(suffix: str) -> None:
    # Made-up names near the format: whatever the parser accepts, the pattern admits.
    for name in (f"fitness-voice-{suffix}", f"fitness-voice-{suffix}-0123456789abcdef"):
        if room_name_user_id(name) is not None:
            assert PATTERN.fullmatch(name)
            assert len(name) <= MAX_ROOM_NAME_LENGTH


def test_the_pattern_refuses_what_the_format_rules_out() -> None:
    for name in [
        "fitness-voice--0123456789abcdef",  # no user id
        "fitness-voice-alice-0123456789ABCDEF",  # uppercase suffix
        "fitness-voice-alice-0123456789abcde",  # short suffix
        "fitness-voice-al ice-0123456789abcdef",  # a raw space
        "fitness-voice-a~7c-0123456789abcdef",  # a lowercase escape
        "other-alice-0123456789abcdef",
    ]:
        assert not PATTERN.fullmatch(name), name
