"""The events' schema for receivers (voicecore/webhook_schema.py): every event the core makes fits it exactly.

Events are driven through the core's own decisions (core/history.py) from any
life of a session: starts, agent joins, misses and ends in any order, on any
clock. The JSON Schema in docs/ is the models' own output, so it cannot drift.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from voicecore.core.domain import AgentType
from voicecore.core.history import AppEvents, SessionEnd, agent_joined, agent_missing, ended, started
from voicecore.core.journal import EndReason, JournalRecord
from voicecore.webhook_schema import EndedSessionData, SessionData, SessionEnded, json_schema, parse_event

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "webhooks.schema.json"
CREATED = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)

offsets = st.integers(-60, 7200).map(lambda s: CREATED + timedelta(seconds=s, microseconds=s * 7))
steps = st.lists(
    st.one_of(
        st.builds(lambda at: ("joined", at), offsets),
        st.just(("missing", None)),
        st.builds(
            lambda at, reason, approx: ("ended", SessionEnd(at, reason, approx)),
            offsets,
            st.sampled_from(EndReason),
            st.booleans(),
        ),
    ),
    max_size=6,
)


@given(st.sampled_from(AgentType), st.text(min_size=1, max_size=40), steps, st.lists(offsets, min_size=1))
def test_every_event_of_any_session_parses_and_carries_exactly_the_schemas_fields(
    agent_type: AgentType, user_id: str, life: list[tuple[str, object]], clock: list[datetime]
) -> None:
    ticks = iter(clock * 20)
    events = AppEvents(enabled=True, clock=lambda: next(ticks))
    record = JournalRecord("fitness-voice-x-0123456789abcdef", user_id, agent_type.value, CREATED)
    change = started(record, events)
    made = list(change.events)
    record = change.record
    for step, argument in life:
        if step == "joined":
            decide = agent_joined(argument, events)  # type: ignore[arg-type]
        elif step == "missing":
            decide = agent_missing(events)
        else:
            decide = ended(argument, events)  # type: ignore[arg-type]
        decided = decide(record)
        if decided is not None:
            made += decided.events
            record = decided.record
    for sequence, event in enumerate(made, start=1):
        parsed = parse_event(event.body)
        assert parsed.type == event.type
        assert parsed.data.sequence == sequence == event.sequence
        assert parsed.data.user_id == user_id
        fields = set(
            EndedSessionData.model_fields if isinstance(parsed, SessionEnded) else SessionData.model_fields
        )
        assert set(json.loads(event.body)["data"]) == fields
        if isinstance(parsed, SessionEnded):
            assert parsed.data.duration_seconds >= 0
            assert parsed.data.end_reason in EndReason


def test_a_field_a_later_voicecore_adds_is_ignored_not_refused() -> None:
    record = JournalRecord("room", "alice", "diet", CREATED)
    body = json.loads(started(record, AppEvents(enabled=True, clock=lambda: CREATED)).events[0].body)
    body["data"]["mood"] = "upbeat"
    body["later"] = True
    assert parse_event(json.dumps(body)).data.room_name == "room"


def test_the_json_schema_in_the_docs_is_the_models_own() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema(), (
        "regenerate it: python -c 'import json; from voicecore.webhook_schema import json_schema; "
        "print(json.dumps(json_schema(), indent=2, sort_keys=True))' > docs/webhooks.schema.json"
    )
