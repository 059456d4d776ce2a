"""Filling a journal's table directly with ended sessions, for the history phase.

Rows are shaped as voicecore's journal writes them (``voice_sessions``, every column):
a voicecore room name, ``workout``, an agent that joined 3 s in, ended 10 minutes
later by the user or by LiveKit. Every record was created within the last 30 days and
ended an hour ago or more: inside the retention (JOURNAL_RETENTION_DAYS, 90 by
default), so no retention pass removes them while they are measured, and not live,
so the repair has nothing to do with them.

The measured users' records (``own``) and the other users' (spread over
``OTHER_USERS`` users) are written in the order they were created, as a journal in
use wrote them, so each user's records lie among everyone else's: ``executemany``
on SQLite, one ``INSERT ... SELECT generate_series`` on PostgreSQL. Afterwards
PostgreSQL's table is vacuumed and analysed (what autovacuum would have done by the
time a table is that large, and would otherwise do in the middle of the measurement);
SQLite's WAL is checkpointed. SQLite is not analysed: the service never does.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

OTHER_USERS: Final = 50_000  # the other records' owners
_SPAN_US: Final = 30 * 86_400 * 1_000_000
_NEWEST_US: Final = 3_600 * 1_000_000  # the newest record was created this long ago
_AGENT_AFTER_US: Final = 3_000_000
_DURATION_US: Final = 600 * 1_000_000
_SQLITE_ROW: Final = (
    "INSERT INTO voice_sessions (room_name, user_id, agent_type, created_at_us, agent_joined_at_us, "
    "ended_at_us, end_reason, end_approximate, rejoins, dispatches, events_sent) "
    "VALUES (?, ?, 'workout', ?, ?, ?, ?, 0, 0, 1, 0)"
)
# In created order, as the rows of a journal in use were written: each user's records lie among
# everyone else's. $1 the other users' count, $2 the newest created_at_us; $3..$6 the measured users'
# rows (room_name, user_id, created_at_us, end_reason). The same shapes as _row() makes.
_POSTGRES_ALL: Final = (
    "INSERT INTO voice_sessions (room_name, user_id, agent_type, created_at_us, agent_joined_at_us, "
    "ended_at_us, end_reason, end_approximate, rejoins, dispatches, events_sent) "
    "SELECT room_name, user_id, 'workout', c, c + 3000000, c + 600000000, end_reason, false, 0, 1, 0 FROM ("
    "SELECT 'fitness-voice-' || u || '-' || substr(md5(u || ':' || i), 1, 16) AS room_name, u AS user_id, c, "
    "CASE WHEN i % 2 = 0 THEN 'room_closed' ELSE 'user_ended' END AS end_reason "
    "FROM (SELECT i, 'bench-member-' || (i % 50000) AS u, "
    "$2::bigint - (i::bigint * 2592000000000 / greatest($1::bigint, 1)) AS c "
    "FROM generate_series(0, $1::bigint - 1) AS i) AS others "
    "UNION ALL SELECT * FROM unnest($3::text[], $4::text[], $5::bigint[], $6::text[])"
    ") AS everyone ORDER BY c"
)


def now_us() -> int:
    return time.time_ns() // 1000


def _row(user_id: str, i: int, created: int) -> tuple[Any, ...]:
    suffix = hashlib.md5(f"{user_id}:{i}".encode(), usedforsecurity=False).hexdigest()[:16]
    end_reason = "room_closed" if i % 2 == 0 else "user_ended"
    return (
        f"fitness-voice-{user_id}-{suffix}",
        user_id,
        created,
        created + _AGENT_AFTER_US,
        created + _DURATION_US,
        end_reason,
    )


def _rows(user_id: str, count: int, newest_us: int) -> Iterator[tuple[Any, ...]]:
    """``count`` ended records of ``user_id``, newest first, evenly over the 30 days before ``newest_us``."""
    return (_row(user_id, i, newest_us - i * _SPAN_US // count) for i in range(count))


def _others(count: int, newest_us: int) -> Iterator[tuple[Any, ...]]:
    """``count`` ended records of OTHER_USERS other users, as ``_POSTGRES_OTHERS`` makes them."""
    return (
        _row(f"bench-member-{i % OTHER_USERS}", i, newest_us - i * _SPAN_US // count) for i in range(count)
    )


def _everyone(own: Mapping[str, int], others: int, newest_us: int) -> list[tuple[Any, ...]]:
    rows = [*_others(others, newest_us)]
    for user_id, count in own.items():
        rows += _rows(user_id, count, newest_us)
    return sorted(rows, key=lambda row: row[2])  # oldest first, as they were written


def fill_sqlite(path: Path, own: Mapping[str, int], others: int) -> None:
    """Blocking: run it in a thread. The service may hold the file open (WAL): it reads on meanwhile."""
    rows = _everyone(own, others, now_us() - _NEWEST_US)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA busy_timeout=5000")
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(_SQLITE_ROW, rows)
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


async def fill_postgres(url: str, own: Mapping[str, int], others: int) -> None:
    newest = now_us() - _NEWEST_US
    mine = [row for user_id, count in own.items() for row in _rows(user_id, count, newest)]
    columns = [[row[k] for row in mine] for k in (0, 1, 2, 5)]  # room_name, user_id, created, end_reason
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(_POSTGRES_ALL, others, newest, *columns)
        await connection.execute("VACUUM ANALYZE voice_sessions")
    finally:
        await connection.close()


def explain_sqlite(path: Path, sql: str, parameters: tuple[Any, ...]) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        plan = connection.execute(
            f"EXPLAIN QUERY PLAN {sql}", parameters
        )  # the journal's own query, compiled
        return [str(row[-1]) for row in plan]
    finally:
        connection.close()


async def explain_postgres(url: str, sql: str, parameters: tuple[Any, ...]) -> list[str]:
    connection = await asyncpg.connect(url)
    try:
        plan = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *parameters)
        return [str(row[0]) for row in plan]
    finally:
        await connection.close()
