"""The journal-free reference keeps records as voicecore's SQLite journal does, in a dict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.journal_free import MemoryJournal
from voicecore.adapters.sql_journal import SqlSessionJournal
from voicecore.core.history import NO_APP_EVENTS, SessionEnd, ended, started
from voicecore.core.journal import EndReason, HistoryQuery, JournalRecord, SessionJournal

NOON = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)


async def scenario(journal: SessionJournal) -> list[object]:
    """Starts, a duplicate, ends, the repair's reads, keyset pages, an erasure: every answer."""
    answers: list[object] = []
    for i in range(7):
        user = "alice" if i % 3 else "bob"
        at = NOON + timedelta(minutes=i // 2)  # pairs share a moment: the room name breaks the tie
        record = JournalRecord(f"room-{i}", user, "workout", at)
        answers.append(await journal.start(started(record, NO_APP_EVENTS)))
    answers.append(await journal.start(started(JournalRecord("room-1", "bob", "diet", NOON), NO_APP_EVENTS)))
    for room in ("room-1", "room-3"):
        answers.append(
            await journal.change(
                room, ended(SessionEnd(NOON + timedelta(hours=1), EndReason.USER_ENDED), NO_APP_EVENTS)
            )
        )
    answers.append(
        await journal.change("room-missing", ended(SessionEnd(NOON, EndReason.ROOM_CLOSED), NO_APP_EVENTS))
    )
    answers.append(sorted(await journal.known(["room-2", "room-9", "room-5"])))
    answers.append([r.room_name for r in await journal.live()])
    answers.append([r.room_name for r in await journal.live("bob")])
    after = None
    while page := await journal.history(HistoryQuery("alice", 2, after=after)):
        answers.append([r.room_name for r in page])
        after = (page[-1].created_at, page[-1].room_name)
    answers.append(
        [
            r.room_name
            for r in await journal.history(HistoryQuery("alice", 9, end_reason=EndReason.USER_ENDED))
        ]
    )
    days = (int(NOON.timestamp()) // 86_400 - 1, int(NOON.timestamp()) // 86_400 + 2)
    answers.append(sorted(await journal.usage_days("alice", *days)))
    answers.append(sorted(await journal.usage_days("bob", *days)))
    answers.append(await journal.erase_ended("alice"))
    answers.append(await journal.get("room-1"))
    answers.append(await journal.get("room-2"))
    answers.append((await journal.erase_user("bob")).records)
    answers.append(await journal.usage_days("bob", *days))
    answers.append(sorted(await journal.usage_days("alice", *days)))
    answers.append(await journal.purge_ended_before(NOON + timedelta(days=1)))
    return answers


async def test_the_dict_answers_what_the_sqlite_journal_answers(tmp_path: Path) -> None:
    sqlite = SqlSessionJournal(f"sqlite:///{tmp_path / 'journal.sqlite3'}")
    await sqlite.open()
    try:
        expected = await scenario(sqlite)
    finally:
        await sqlite.aclose()
    assert await scenario(MemoryJournal()) == expected
    assert expected[0:8] == [True] * 7 + [False]  # the scenario did what it says
    alice_minutes, bob_minutes = expected[-2], expected[-3]
    assert alice_minutes  # her ended sessions' minutes are kept past erasing her history
    assert bob_minutes == []  # erasing a user takes their minutes too
