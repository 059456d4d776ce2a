"""The journal's rules as properties (core/history.py): how a record ends, records its agent, and is told.

Each decision is applied in turn to the record it returned, as the journal does
under its lock; whatever the order and however often the same fact is reported,
the result is the one the rules promise.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from voicecore.core.domain import SessionPolicy
from voicecore.core.history import (
    AppEvents,
    EventType,
    SessionEnd,
    agent_joined,
    counted,
    duration_seconds,
    ended,
    history_item,
    started,
    unobserved_end,
)
from voicecore.core.journal import AppEvent, Decide, EndReason, JournalRecord
from voicecore.core.session_record import SessionRecord

NOON = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
CREATED = NOON
EVENTS = AppEvents(enabled=True, clock=lambda: NOON + timedelta(days=1))

offsets = st.integers(-120, 7200).map(lambda s: CREATED + timedelta(seconds=s))
ends = st.builds(SessionEnd, at=offsets, reason=st.sampled_from(EndReason), approximate=st.booleans())


def apply(decisions: list[Decide]) -> tuple[JournalRecord, list[AppEvent]]:
    change = started(JournalRecord("room", "alice", "diet", CREATED), EVENTS)
    record, events = change.record, list(change.events)
    for decide in decisions:
        outcome = decide(record)
        if outcome is not None:
            record = outcome.record
            events += outcome.events
    return record, events


@given(st.lists(ends, min_size=1, max_size=8))
def test_a_session_ends_once_and_is_told_once(reports: list[SessionEnd]) -> None:
    record, events = apply([ended(end, EVENTS) for end in reports])
    assert [e.type for e in events].count(EventType.SESSION_ENDED.value) == 1
    told = json.loads(next(e.body for e in events if e.type == EventType.SESSION_ENDED.value))["data"]
    assert told["end_reason"] == reports[0].reason.value  # the first end reported is the one told
    assert record.ended_at is not None
    assert record.ended_at >= record.created_at


@given(st.lists(ends, min_size=1, max_size=8))
def test_an_exact_end_stands_and_bounds_only_tighten(reports: list[SessionEnd]) -> None:
    record, _ = apply([ended(end, EVENTS) for end in reports])
    exact = [end for end in reports if not end.approximate]
    if exact:
        first = exact[0]
        assert (record.end_reason, record.end_approximate) == (first.reason, False)
        assert record.ended_at == max(first.at, CREATED)
    else:
        assert record.end_approximate
        assert record.ended_at == max(min(end.at for end in reports), CREATED)


@given(st.lists(ends, min_size=1, max_size=6), st.randoms())
def test_approximate_ends_give_the_same_record_in_any_order(reports: list[SessionEnd], rng: object) -> None:
    bounds = [replace(end, approximate=True, reason=EndReason.UNOBSERVED) for end in reports]
    shuffled = list(bounds)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert apply([ended(e, EVENTS) for e in bounds])[0] == apply([ended(e, EVENTS) for e in shuffled])[0]


@given(st.lists(offsets, min_size=1, max_size=8))
def test_the_agent_first_join_is_the_earliest_reported_and_told_once(joins: list[datetime]) -> None:
    record, events = apply([agent_joined(at, EVENTS) for at in joins])
    assert record.agent_joined_at == max(min(joins), CREATED)
    assert [e.type for e in events].count(EventType.AGENT_JOINED.value) == 1


@given(
    st.lists(
        st.one_of(
            ends.map(lambda end: ended(end, EVENTS)),
            offsets.map(lambda at: agent_joined(at, EVENTS)),
            st.just(counted(rejoins=1)),
            st.just(counted(dispatches=1)),
        ),
        max_size=12,
    )
)
def test_every_event_is_numbered_one_after_the_other(decisions: list[Decide]) -> None:
    record, events = apply(decisions)
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert record.events_sent == len(events)
    assert len({e.event_id for e in events}) == len(events)
    assert all(json.loads(e.body)["data"]["sequence"] == e.sequence for e in events)


@given(st.integers(0, 5), st.integers(0, 5))
def test_counts_add_up(rejoins: int, dispatches: int) -> None:
    decisions = [counted(rejoins=1)] * rejoins + [counted(dispatches=1)] * dispatches
    record, events = apply(decisions)
    assert (record.rejoins, record.dispatches) == (rejoins, dispatches)
    assert len(events) == 1  # only session.started


def test_no_endpoint_means_no_events_are_kept() -> None:
    quiet = AppEvents(enabled=False, clock=lambda: NOON)
    change = started(JournalRecord("room", "alice", "diet", CREATED), quiet)
    assert change.events == ()
    decided = ended(SessionEnd(NOON, EndReason.USER_ENDED), quiet)(change.record)
    assert decided is not None
    assert (decided.events, decided.record.events_sent) == ((), 0)


@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_duration_is_wall_time_to_the_end_or_to_now(ended_after: int, now_after: int) -> None:
    live = JournalRecord("room", "alice", "diet", CREATED)
    now = CREATED + timedelta(seconds=now_after)
    assert duration_seconds(live, now) == now_after
    over = replace(live, ended_at=CREATED + timedelta(seconds=ended_after), end_reason=EndReason.ROOM_CLOSED)
    assert duration_seconds(over, now) == ended_after
    assert history_item(over, now)["active"] is False
    assert history_item(live, now)["active"] is True


@given(
    left=st.integers(0, 3600),
    joined=st.integers(0, 3600),
    now_after=st.integers(0, 10_000),
    survived=st.booleans(),
)
def test_an_unobserved_end_is_a_true_bound(left: int, joined: int, now_after: int, survived: bool) -> None:
    policy = SessionPolicy(departure_timeout_seconds=120)
    record = JournalRecord("room", "alice", "diet", CREATED)
    known = SessionRecord(
        "room",
        "alice",
        "diet",
        CREATED,
        user_joined_at=CREATED + timedelta(seconds=joined),
        user_left_at=CREATED + timedelta(seconds=left),
    )
    now = CREATED + timedelta(seconds=now_after)
    bound = unobserved_end(record, known if survived else None, policy, now)
    assert CREATED <= bound <= max(now, CREATED)
    if survived and left >= joined:
        # Everyone had left: the room closed at most the departure timeout later.
        assert bound <= CREATED + timedelta(seconds=left + 120)
    if not survived or left < joined:
        assert bound == now
