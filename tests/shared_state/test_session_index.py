"""Contract, both stores: live sessions per user, the facts noted about them, exactly-once ends."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.clocks import START
from tests.support.records import record
from voicecore.core.errors import StoreError
from voicecore.core.session_record import SessionRecord
from voicecore.core.store import SessionStore

# Names that a careless key layout would mix up ("a" + ":b" and "a:b"), and escapes.
awkward_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=24)
aware_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.timezones()
).filter(lambda t: t.utcoffset() is not None)
counter = itertools.count()
any_examples = settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def records(draw: st.DrawFn) -> SessionRecord:
    maybe_time = st.none() | aware_times
    return SessionRecord(
        room_name=f"{draw(awkward_text)}#{next(counter)}",  # unique: examples share the store
        user_id=draw(awkward_text),
        agent_type=draw(awkward_text),
        created_at=draw(aware_times),
        user_joined_at=draw(maybe_time),
        user_left_at=draw(maybe_time),
        agent_joined_at=draw(maybe_time),
        agent_left_at=draw(maybe_time),
        agent_dispatches=draw(st.integers(0, 1000)),
    )


@any_examples
@given(original=records())
async def test_a_record_reads_back_as_it_was_added(store: SessionStore, original: SessionRecord) -> None:
    assert await store.add_session(original) is True
    stored = await store.get_session(original.room_name)
    assert stored == original
    assert stored is not None
    assert stored.created_at.tzinfo == UTC
    assert original in await store.user_sessions(original.user_id)


async def test_adding_a_recorded_room_again_changes_nothing(store: SessionStore) -> None:
    first = record("room-1", "alice")
    assert await store.add_session(first)
    assert await store.add_session(record("room-1", "bob", agent_type="diet")) is False
    assert await store.get_session("room-1") == first
    assert await store.user_sessions("bob") == []


async def test_each_user_sees_only_their_sessions_oldest_first(store: SessionStore) -> None:
    # "a:b" and "a" with a room "b:..." would share keys if parts were joined naively.
    newer = record("r:2", "a", at=START + timedelta(minutes=1))
    older = record("r:1", "a", at=START)
    other = record("x", "a:b")
    escaped_lookalike = record("y", "a%3Ab")
    for item in (newer, other, older, escaped_lookalike):
        assert await store.add_session(item)
    assert await store.user_sessions("a") == [older, newer]
    assert await store.user_sessions("a:b") == [other]
    assert await store.user_sessions("a%3Ab") == [escaped_lookalike]
    assert await store.user_sessions("nobody") == []
    assert await store.all_sessions() == [older, other, escaped_lookalike, newer]


async def test_removing_a_session_returns_it_once_and_forgets_it(store: SessionStore) -> None:
    kept, ended = record("kept", "alice"), record("ended", "alice", at=START + timedelta(seconds=1))
    await store.add_session(kept)
    await store.add_session(ended)
    assert await store.remove_session("ended") == ended
    assert await store.remove_session("ended") is None
    assert await store.get_session("ended") is None
    assert await store.user_sessions("alice") == [kept]
    assert await store.all_sessions() == [kept]
    assert await store.remove_session("never-was") is None


async def test_many_sessions_are_removed_in_one_call(store: SessionStore) -> None:
    """The repair forgets thousands at once; Redis takes them in chunks of 500."""
    records = [record(f"room-{n:04}", f"user-{n % 7}", at=START + timedelta(seconds=n)) for n in range(1203)]
    for item in records:
        await store.add_session(item)
    gone = [r.room_name for r in records[:1201]]
    removed = await store.remove_sessions([*gone, "never-was", gone[0]])
    assert removed == records[:1201]
    assert await store.all_sessions() == records[1201:]
    assert await store.user_sessions("user-4") == [r for r in records[1201:] if r.user_id == "user-4"]
    assert await store.remove_sessions([]) == []


async def test_concurrent_ends_across_replicas_give_the_record_to_exactly_one(
    replicas: tuple[SessionStore, SessionStore],
) -> None:
    first, second = replicas
    await first.add_session(record("contested", "alice"))
    results = await asyncio.gather(*(replica.remove_session("contested") for replica in (first, second) * 10))
    assert [r for r in results if r is not None] == [record("contested", "alice")]
    assert await second.user_sessions("alice") == []


async def test_facts_about_unknown_rooms_are_ignored(store: SessionStore) -> None:
    assert await store.note_participant("ghost", agent=True, joined=True, at=START) is None
    assert await store.count_dispatch("ghost", at=START, limit=5) is None
    assert await store.get_session("ghost") is None


async def test_noted_participants_keep_the_latest_time_of_each_event(store: SessionStore) -> None:
    await store.add_session(record("room", "alice"))
    later = START + timedelta(seconds=30)
    await store.note_participant("room", agent=True, joined=True, at=later)
    noted = await store.note_participant("room", agent=True, joined=True, at=START + timedelta(seconds=5))
    assert noted is not None
    assert noted.agent_joined_at == later  # a late-delivered older event does not win
    noted = await store.note_participant("room", agent=False, joined=False, at=later)
    assert noted == await store.get_session("room")
    assert noted is not None
    assert (noted.user_joined_at, noted.user_left_at, noted.agent_left_at) == (None, later, None)
    assert noted.created_at == START


moments = st.integers(0, 10_000).map(lambda s: START + timedelta(seconds=s))
events = st.lists(st.tuples(st.booleans(), st.booleans(), moments), max_size=12)


@any_examples
@given(noted=events, order=st.randoms(use_true_random=False))
async def test_facts_do_not_depend_on_event_order_or_repeats(
    store: SessionStore, noted: list[tuple[bool, bool, datetime]], order: random.Random
) -> None:
    """Webhooks arrive late, twice or out of order: the record must not care."""
    forward, shuffled = f"forward-{next(counter)}", f"shuffled-{next(counter)}"
    await store.add_session(record(forward))
    await store.add_session(record(shuffled))
    replayed = noted * 2
    order.shuffle(replayed)
    for room, sequence in ((forward, noted), (shuffled, replayed)):
        for agent, joined, at in sequence:
            await store.note_participant(room, agent=agent, joined=joined, at=at)
    one, other = await store.get_session(forward), await store.get_session(shuffled)
    assert one is not None
    assert other is not None
    assert one == SessionRecord(**{**_fields(other), "room_name": forward})


def _fields(item: SessionRecord) -> dict[str, object]:
    return {name: getattr(item, name) for name in SessionRecord.__slots__}


async def test_times_from_any_timezone_are_the_same_instants(store: SessionStore) -> None:
    await store.add_session(record("room"))
    tokyo = timezone(timedelta(hours=9))
    noted = await store.note_participant("room", agent=False, joined=True, at=START.astimezone(tokyo))
    assert noted is not None
    assert noted.user_joined_at == START


async def test_naive_times_are_refused(store: SessionStore) -> None:
    await store.add_session(record("room"))
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.note_participant("room", agent=True, joined=True, at=datetime(2031, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        record("naive", at=datetime(2031, 1, 1))


async def test_concurrent_dispatch_counts_are_never_lost(replicas: tuple[SessionStore, SessionStore]) -> None:
    first, second = replicas
    await first.add_session(record("room"))
    counts = await asyncio.gather(
        *(replica.count_dispatch("room", at=START, limit=100) for replica in (first, second) * 10)
    )
    assert sorted(c for c in counts if c is not None) == list(range(1, 21))
    stored = await second.get_session("room")
    assert stored is not None
    assert stored.agent_dispatches == 20


async def test_concurrent_dispatches_across_replicas_spend_the_budget_exactly(
    replicas: tuple[SessionStore, SessionStore],
) -> None:
    first, second = replicas
    await first.add_session(record("room"))
    counts = await asyncio.gather(
        *(replica.count_dispatch("room", at=START, limit=3) for replica in (first, second) * 10)
    )
    assert sorted(counts) == [0] * 17 + [1, 2, 3]  # three taken; every other caller refused
    stored = await second.get_session("room")
    assert stored is not None
    assert stored.agent_dispatches == 3


@any_examples
@given(sent=st.lists(aware_times, min_size=1, max_size=6), limit=st.integers(0, 8))
async def test_a_counted_dispatch_keeps_the_latest_time_and_a_spent_budget_changes_nothing(
    store: SessionStore, sent: list[datetime], limit: int
) -> None:
    room = f"room#{next(counter)}"
    await store.add_session(record(room))
    counts = [await store.count_dispatch(room, at=at, limit=limit) for at in sent]
    taken = sent[:limit]
    assert counts == list(range(1, len(taken) + 1)) + [0] * (len(sent) - len(taken))
    stored = await store.get_session(room)
    assert stored is not None
    assert stored.agent_dispatches == len(taken)
    latest = max(taken).astimezone(UTC) if taken else None  # an instant: a time in a fold compares by it
    assert stored.redispatched_at == latest
    assert stored.latest_dispatch_at == (latest or stored.created_at)


async def test_a_closed_store_refuses_calls(store: SessionStore) -> None:
    await store.ping()
    await store.aclose()
    with pytest.raises(StoreError, match="closed") as raised:
        await store.get_session("room")
    assert raised.value.operation == "get_session"
    with pytest.raises(StoreError):
        await store.ping()
