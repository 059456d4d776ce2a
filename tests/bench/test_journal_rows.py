"""The floor's bare INSERT and the history fill write the rows voicecore's journal writes and reads."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from bench.floor_insert import PostgresInsert, SessionInsert, SqliteInsert
from bench.history_fill import OTHER_USERS, fill_postgres, fill_sqlite
from bench.journals import PostgresDatabases
from voicecore.adapters.sql_journal import SqlSessionJournal
from voicecore.core.journal import EndReason, HistoryQuery, JournalChange, JournalRecord

COLUMNS = (
    "room_name, user_id, agent_type, created_at_us, agent_joined_at_us, ended_at_us, end_reason, "
    "end_approximate, rejoins, dispatches, events_sent"
)


async def rows_of(url: str) -> dict[str, tuple[Any, ...]]:
    """Every row of voice_sessions, by room, straight from the database."""
    query = f"SELECT {COLUMNS} FROM voice_sessions"  # noqa: S608 - a fixed column list
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            found = connection.execute(query).fetchall()
        return {row[0]: tuple(row) for row in found}
    connection = await asyncpg.connect(url)
    try:
        return {row[0]: (*row[:7], int(row[7]), *row[8:]) for row in await connection.fetch(query)}
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'voicecore-journal.sqlite3'}"
    postgres: PostgresDatabases = request.getfixturevalue("bench_postgres")
    return postgres.allocate("rows")


async def test_the_floor_inserts_the_row_the_journal_writes_for_a_new_session(database: str) -> None:
    bare: SessionInsert
    if database.startswith("sqlite"):
        bare = await SqliteInsert.open(Path(database.removeprefix("sqlite:///")))
    else:
        bare = await PostgresInsert.open(database)  # both migrate with voicecore's own command
    journal = SqlSessionJournal(database)
    await journal.open()  # the schema is at head: nothing to migrate
    try:
        before = datetime.now(UTC)
        await bare.insert("fitness-voice-u-floor", "u", "workout")
        await journal.start(JournalChange(JournalRecord("fitness-voice-u-journal", "u", "workout", before)))
        rows = await rows_of(database)
        floor, voicecore = rows["fitness-voice-u-floor"], rows["fitness-voice-u-journal"]
        assert floor[1:3] + floor[4:] == voicecore[1:3] + voicecore[4:]  # all but the name and the time
        read = await journal.get("fitness-voice-u-floor")
        assert read is not None
        assert read.live
        assert before - timedelta(seconds=1) <= read.created_at <= datetime.now(UTC)
    finally:
        await bare.aclose()
        await journal.aclose()


async def test_a_filled_journal_holds_ended_records_the_journal_pages_by_key(database: str) -> None:
    journal = SqlSessionJournal(database, migrate=True)
    await journal.open()
    own = {"bench-history-reader": 20, "bench-history-pager": 130}
    try:
        if database.startswith("sqlite"):
            fill_sqlite(Path(database.removeprefix("sqlite:///")), own, 3_000)
        else:
            await fill_postgres(database, own, 3_000)
        assert await journal.count() == 3_150
        assert await journal.live() == []
        reader = await journal.history(HistoryQuery("bench-history-reader", 21))
        assert len(reader) == 20
        assert [r.created_at for r in reader] == sorted((r.created_at for r in reader), reverse=True)
        now = datetime.now(UTC)
        assert all(now - timedelta(days=31) < r.created_at < now - timedelta(minutes=59) for r in reader)
        assert all(r.end_reason in (EndReason.ROOM_CLOSED, EndReason.USER_ENDED) for r in reader)
        seen: list[JournalRecord] = []
        after = None
        while page := await journal.history(HistoryQuery("bench-history-pager", 20, after=after)):
            seen += page
            after = (page[-1].created_at, page[-1].room_name)
        assert len({r.room_name for r in seen}) == 130
        members = {r[1] for r in (await rows_of(database)).values() if r[1].startswith("bench-member-")}
        assert len(members) == min(3_000, OTHER_USERS)
    finally:
        await journal.aclose()


async def test_both_databases_are_filled_with_the_same_records(
    tmp_path: Path, bench_postgres: PostgresDatabases
) -> None:
    """The PostgreSQL statement makes exactly the rows the SQLite side makes in Python."""
    urls = [f"sqlite:///{tmp_path / 'j.sqlite3'}", bench_postgres.allocate("same")]
    for url in urls:
        journal = SqlSessionJournal(url, migrate=True)
        await journal.open()
        await journal.aclose()
    own = {"bench-history-reader": 5}
    fill_sqlite(Path(urls[0].removeprefix("sqlite:///")), own, 1_000)
    await fill_postgres(urls[1], own, 1_000)
    sqlite_rows, postgres_rows = await rows_of(urls[0]), await rows_of(urls[1])
    assert sqlite_rows.keys() == postgres_rows.keys()

    def shape(row: tuple[Any, ...]) -> tuple[Any, ...]:  # times relative to the record's creation
        return (*row[1:3], row[4] - row[3], row[5] - row[3], *row[6:])

    assert {k: shape(v) for k, v in sqlite_rows.items()} == {k: shape(v) for k, v in postgres_rows.items()}
