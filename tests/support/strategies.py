"""Hypothesis strategies the property tests share."""

from __future__ import annotations

from hypothesis import strategies as st

from voicecore.core.naming import (
    MAX_ESCAPED_USER_ID_LENGTH,
    SAFE_CHARACTERS,
    USER_ID_CHARACTERS,
    escape_user_id,
)


def _within_budget(user_id: str) -> str:
    """The longest prefix of ``user_id`` whose escaped form still fits in a room name."""
    while len(escape_user_id(user_id)) > MAX_ESCAPED_USER_ID_LENGTH:
        user_id = user_id[:-1]
    return user_id


# Any id a real identity provider hands out: printable ASCII, within the room-name budget.
user_ids = st.text(alphabet=sorted(USER_ID_CHARACTERS), min_size=1, max_size=MAX_ESCAPED_USER_ID_LENGTH).map(
    _within_budget
)
# Ids of URL-safe characters only, up to the longest that fits.
plain_user_ids = st.text(alphabet=sorted(SAFE_CHARACTERS), min_size=1, max_size=MAX_ESCAPED_USER_ID_LENGTH)
