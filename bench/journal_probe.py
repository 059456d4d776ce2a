"""``python -m bench.journal_probe [--count N]``: where a journal start's time goes, in one process.

No HTTP and no LiveKit: the shipped journal's ``start`` (``SqlSessionJournal``, as a
create calls it) against the floor's bare INSERT of the same row (``bench.floor_insert``)
on the same database, on one event loop (uvloop), alternating in blocks. Per call: p50
wall time and CPU time of this process (all its threads), and on SQLite the thread hops
to aiosqlite's worker (each call into aiosqlite is one). SQLite in a temporary file;
PostgreSQL on a server of its own, with the benchmark's settings. A diagnosis for
docs/benchmarks.md, not a benchmark of record: the journal phase's figures are those.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite.core
import uvloop

from bench.floor_insert import PostgresInsert, SessionInsert, SqliteInsert
from bench.journals import postgres_databases
from voicecore.adapters.sql_journal import SqlSessionJournal
from voicecore.core.journal import JournalChange, JournalRecord

Call = Callable[[], Awaitable[object]]
_BLOCK = 100


@contextmanager
def counting_sqlite_hops() -> Iterator[list[int]]:
    """Counts every call into aiosqlite's worker thread (its one funnel, ``Connection._execute``)."""
    count = [0]
    original: Callable[..., Awaitable[Any]] = aiosqlite.core.Connection._execute

    async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return await original(self, fn, *args, **kwargs)

    aiosqlite.core.Connection._execute = counted  # type: ignore[method-assign]
    try:
        yield count
    finally:
        aiosqlite.core.Connection._execute = original  # type: ignore[method-assign, assignment]


def _room() -> str:
    return f"fitness-voice-bench-probe-{secrets.token_hex(8)}"


async def _measure(calls: dict[str, Call], count: int, hops: list[int]) -> dict[str, dict[str, float]]:
    wall: dict[str, list[float]] = {name: [] for name in calls}
    cpu = dict.fromkeys(calls, 0.0)
    hopped = dict.fromkeys(calls, 0)
    for call in calls.values():  # warm-up
        for _ in range(_BLOCK):
            await call()
    for _ in range(count // _BLOCK):
        for name, call in calls.items():
            cpu_before, hops_before = time.process_time(), hops[0]
            for _ in range(_BLOCK):
                started = time.perf_counter()
                await call()
                wall[name].append(time.perf_counter() - started)
            cpu[name] += time.process_time() - cpu_before
            hopped[name] += hops[0] - hops_before
    return {
        name: {
            "p50_ms": round(statistics.median(wall[name]) * 1000, 3),
            "cpu_ms_per_call": round(cpu[name] * 1000 / len(wall[name]), 3),
            "thread_hops_per_call": round(hopped[name] / len(wall[name]), 2),
        }
        for name in calls
    }


async def probe(url: str, bare: Callable[[], Awaitable[SessionInsert]], count: int) -> dict[str, Any]:
    journal = SqlSessionJournal(url, migrate=True)
    await journal.open()
    insert = await bare()

    async def journal_start() -> None:
        await journal.start(
            JournalChange(JournalRecord(_room(), "bench-probe", "workout", datetime.now(UTC)))
        )

    async def bare_insert() -> None:
        await insert.insert(_room(), "bench-probe", "workout")

    try:
        with counting_sqlite_hops() as hops:
            return await _measure({"journal.start": journal_start, "bare INSERT": bare_insert}, count, hops)
    finally:
        await insert.aclose()
        await journal.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.journal_probe")
    parser.add_argument("--count", type=int, default=2000, help="calls of each, in blocks of 100")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-probe-") as scratch:
        path = Path(scratch) / "voicecore-journal.sqlite3"
        sqlite = uvloop.run(probe(f"sqlite:///{path}", lambda: SqliteInsert.open(path), args.count))
    with postgres_databases() as postgres:
        url = postgres.allocate("probe")
        pg = uvloop.run(probe(url, lambda: PostgresInsert.open(url), args.count))
        settings = postgres.settings()
    print(f"PostgreSQL: fsync={settings['fsync']}, synchronous_commit={settings['synchronous_commit']}")
    for database, figures in (("SQLite", sqlite), ("PostgreSQL", pg)):
        for name, row in figures.items():
            print(
                f"{database:11} {name:14} p50 {row['p50_ms']:.3f} ms   "
                f"CPU {row['cpu_ms_per_call']:.3f} ms/call"
                + (f"   {row['thread_hops_per_call']:g} thread hops/call" if database == "SQLite" else "")
            )


if __name__ == "__main__":
    main()
