"""Contract, both databases (SQLite and PostgreSQL): the journal keeps each session's record, exactly.

What the journal writes is what the core's decision says (core/history.py has the
rules, tested in test_end_rules.py); here: that it is written once, atomically
across replicas, read back to the microsecond, paged by key, and erased on request.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.journals import stored_events
from voicecore.adapters.sql_journal import SqlSessionJournal
from voicecore.core.errors import JournalUnavailable
from voicecore.core.history import AppEvents, EventType, SessionEnd, agent_joined, counted, ended, started
from voicecore.core.journal import Decide, EndReason, HistoryQuery, JournalChange, JournalRecord

NOON = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
EVENTS = AppEvents(enabled=True, clock=lambda: NOON + timedelta(hours=1))


def end(at: datetime, reason: EndReason = EndReason.USER_ENDED) -> Decide:
    return ended(SessionEnd(at, reason), EVENTS)


def record(room: str, user: str = "alice", *, at: datetime = NOON, agent_type: str = "diet") -> JournalRecord:
    return JournalRecord(room_name=room, user_id=user, agent_type=agent_type, created_at=at)


async def test_a_start_is_recorded_once_with_its_event(journal: SqlSessionJournal, journal_url: str) -> None:
    first = record("room-1")
    assert await journal.start(started(first, EVENTS)) is True
    assert await journal.start(started(record("room-1", agent_type="general"), EVENTS)) is False
    kept = await journal.get("room-1")
    assert kept == JournalRecord("room-1", "alice", "diet", NOON, events_sent=1)
    assert [(e.type, e.sequence) for e in await stored_events(journal_url, "room-1")] == [
        (EventType.SESSION_STARTED.value, 1)
    ]


async def test_times_and_odd_ids_round_trip_to_the_microsecond(journal: SqlSessionJournal) -> None:
    odd = 'auth0|64f1"c2\\ü'
    moment = datetime(2031, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    await journal.start(JournalChange(record("room-μ", odd, at=moment)))
    joined = moment + timedelta(microseconds=1)
    await journal.change("room-μ", agent_joined(joined, EVENTS))
    kept = await journal.get("room-μ")
    assert kept is not None
    assert (kept.user_id, kept.created_at, kept.agent_joined_at) == (odd, moment, joined)


async def test_a_change_writes_what_the_decision_says_and_nothing_when_it_says_none(
    journal: SqlSessionJournal, journal_url: str
) -> None:
    await journal.start(started(record("room-1"), EVENTS))
    written = await journal.change(
        "room-1", ended(SessionEnd(NOON + timedelta(minutes=5), EndReason.USER_ENDED), EVENTS)
    )
    assert written is not None
    assert (written.ended_at, written.end_reason, written.events_sent) == (
        NOON + timedelta(minutes=5),
        EndReason.USER_ENDED,
        2,
    )
    assert await journal.get("room-1") == written
    # A second end is no change: the record and the outbox stay as they are.
    again = await journal.change(
        "room-1", ended(SessionEnd(NOON + timedelta(minutes=6), EndReason.ROOM_CLOSED), EVENTS)
    )
    assert again == written
    assert [e.type for e in await stored_events(journal_url, "room-1")] == [
        "session.started",
        "session.ended",
    ]


async def test_a_change_to_an_unknown_room_is_none_and_writes_nothing(journal: SqlSessionJournal) -> None:
    assert await journal.change("nowhere", counted(rejoins=1)) is None
    assert await journal.get("nowhere") is None


async def test_changes_racing_over_two_replicas_are_each_applied_once(journal_url: str) -> None:
    replicas = [SqlSessionJournal(journal_url), SqlSessionJournal(journal_url)]
    for replica in replicas:
        await replica.open()
    try:
        await replicas[0].start(started(record("room-1"), EVENTS))
        await asyncio.gather(*(replicas[n % 2].change("room-1", counted(rejoins=1)) for n in range(40)))
        ends = [
            replicas[n % 2].change(
                "room-1", ended(SessionEnd(NOON + timedelta(seconds=n), EndReason.ROOM_CLOSED), EVENTS)
            )
            for n in range(10)
        ]
        await asyncio.gather(*ends)
        kept = await replicas[1].get("room-1")
        assert kept is not None
        assert kept.rejoins == 40
        assert kept.end_reason is EndReason.ROOM_CLOSED
        types = [e.type for e in await stored_events(journal_url, "room-1")]
        assert types.count("session.ended") == 1
    finally:
        for replica in replicas:
            await replica.aclose()


async def test_a_start_with_nothing_else_to_write_is_committed_at_once_and_holds_no_lock(
    journal_url: str,
) -> None:
    """Such a start is one statement with no transaction around it (the fast path)."""
    no_events = AppEvents(enabled=False, clock=lambda: NOON)
    # A lock left behind would be held until its replica closed, past any timeout; 10 s is
    # only a margin that a loaded 2-core machine cannot miss (1 s was missed beside the bench).
    replicas = [SqlSessionJournal(journal_url, timeout_seconds=10.0) for _ in range(2)]
    for replica in replicas:
        await replica.open()
    try:
        assert await replicas[0].start(started(record("room-1"), no_events)) is True
        # The other replica sees it committed, and writes at once: no lock is left behind.
        assert await replicas[1].get("room-1") == JournalRecord("room-1", "alice", "diet", NOON)
        assert await replicas[1].start(started(record("room-2"), EVENTS)) is True
        racing = [replicas[n % 2].start(started(record("room-3"), no_events)) for n in range(10)]
        assert sorted(await asyncio.gather(*racing)) == [False] * 9 + [True]
        assert await replicas[0].count() == 3
    finally:
        for replica in replicas:
            await replica.aclose()


async def test_history_is_newest_first_and_paged_by_key(journal: SqlSessionJournal) -> None:
    for n in range(7):
        await journal.start(JournalChange(record(f"room-{n}", at=NOON + timedelta(minutes=n % 3))))
    await journal.start(JournalChange(record("bobs", "bob", at=NOON + timedelta(hours=1))))
    seen: list[str] = []
    after = None
    while True:
        page = await journal.history(HistoryQuery("alice", limit=3, after=after))
        seen += [r.room_name for r in page]
        if len(page) < 3:
            break
        after = (page[-1].created_at, page[-1].room_name)
    # created_at descending, then room_name descending among equal times; every record once.
    expected = sorted(
        (f"room-{n}" for n in range(7)), key=lambda name: (int(name[-1]) % 3, name), reverse=True
    )
    assert seen == expected


async def test_history_filters_by_agent_type_end_reason_and_time(journal: SqlSessionJournal) -> None:
    await journal.start(JournalChange(record("a", at=NOON, agent_type="diet")))
    await journal.start(JournalChange(record("b", at=NOON + timedelta(hours=1), agent_type="workout")))
    await journal.start(JournalChange(record("c", at=NOON + timedelta(hours=2), agent_type="diet")))
    await journal.change("c", ended(SessionEnd(NOON + timedelta(hours=3), EndReason.ROOM_CLOSED), EVENTS))

    async def rooms(**filters: object) -> list[str]:
        return [r.room_name for r in await journal.history(HistoryQuery("alice", limit=10, **filters))]  # type: ignore[arg-type]

    assert await rooms(agent_type="diet") == ["c", "a"]
    assert await rooms(end_reason=EndReason.ROOM_CLOSED) == ["c"]
    assert await rooms(since=NOON + timedelta(hours=1)) == ["c", "b"]
    assert await rooms(until=NOON + timedelta(hours=1)) == ["a"]
    assert await rooms(agent_type="diet", since=NOON + timedelta(minutes=1)) == ["c"]


async def test_live_and_known(journal: SqlSessionJournal) -> None:
    await journal.start(JournalChange(record("a")))
    await journal.start(JournalChange(record("b", "bob", at=NOON - timedelta(hours=1))))
    await journal.start(JournalChange(record("c")))
    await journal.change("c", ended(SessionEnd(NOON, EndReason.USER_ENDED), EVENTS))
    assert [r.room_name for r in await journal.live()] == ["b", "a"]
    assert [r.room_name for r in await journal.live("alice")] == ["a"]
    assert await journal.known(["a", "c", "zz"]) == {"a", "c"}
    assert await journal.known([]) == set()


async def test_erasing_history_takes_only_the_users_ended_records(journal: SqlSessionJournal) -> None:
    for room, user in (("a1", "alice"), ("a2", "alice"), ("b1", "bob")):
        await journal.start(JournalChange(record(room, user)))
        await journal.change(room, ended(SessionEnd(NOON, EndReason.USER_ENDED), EVENTS))
    await journal.start(JournalChange(record("a3-live", "alice")))
    assert await journal.erase_ended("alice") == 2
    assert [r.room_name for r in await journal.history(HistoryQuery("alice", limit=10))] == ["a3-live"]
    assert await journal.get("b1") is not None


async def test_erasing_a_user_takes_every_record_and_undelivered_event(
    journal: SqlSessionJournal, journal_url: str
) -> None:
    await journal.start(started(record("a1", "alice"), EVENTS))
    await journal.start(started(record("a2", "alice"), EVENTS))
    await journal.change("a2", ended(SessionEnd(NOON, EndReason.USER_ENDED), EVENTS))
    await journal.start(started(record("b1", "bob"), EVENTS))
    erasure = await journal.erase_user("alice")
    assert (erasure.records, erasure.undelivered_events) == (2, 3)
    assert await journal.history(HistoryQuery("alice", limit=10)) == []
    assert await stored_events(journal_url, "a1") == []
    assert len(await stored_events(journal_url, "b1")) == 1


async def test_retention_purges_only_what_ended_before_the_moment(journal: SqlSessionJournal) -> None:
    for n, room in enumerate(("old", "recent")):
        await journal.start(JournalChange(record(room)))
        await journal.change(
            room, ended(SessionEnd(NOON + timedelta(days=n * 10), EndReason.ROOM_CLOSED), EVENTS)
        )
    await journal.start(JournalChange(record("live")))
    assert await journal.purge_ended_before(NOON + timedelta(days=5)) == 1
    assert await journal.known(["old", "recent", "live"]) == {"recent", "live"}


async def test_a_closed_journal_is_unavailable(journal_url: str) -> None:
    closed = SqlSessionJournal(journal_url)
    await closed.open()
    await closed.aclose()
    with pytest.raises(JournalUnavailable) as raised:
        await closed.get("room-1")
    assert raised.value.operation == "get"
