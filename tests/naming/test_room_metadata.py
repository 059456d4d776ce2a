"""Agent types and the metadata rules, with hypothesis properties."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.support.strategies import user_ids
from voicecore.core.domain import AgentType, SessionMode
from voicecore.core.errors import MetadataNotReadable
from voicecore.core.metadata import RoomMetadata, owner_of

aware_datetimes = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.just(UTC)
)


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
