"""History under volume: a page of one user's with many other users' records kept, and a long walk.

Served for this phase only (``bench.journal_targets.history_targets``), per database, two
services of the shipped code: one whose journal holds only the reader's records, one
filled with other users' records (``bench.goals.HISTORY_OTHER_RECORDS``), among them
a pager's ``PAGED_RECORDS``. The journals are filled directly in SQL
(``bench.history_fill``), then read through the real service: the reader's
``GET /history`` (its ``HISTORY_OWN_RECORDS`` records, one page) on all four,
interleaved; then the pager's history walked page by page to its end, both databases
at every page, ``page_rounds`` rounds, each in a shuffled order of pages (a walk first
collects every page's cursor). Keyset pages cost the same at any depth; OFFSET pages
would grow with it. The walk is plotted, page time against page number.
Each journal's query plan for a deep page is recorded beside the figures.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.dialects.sqlite.base import SQLiteDialect

from bench.clients import ApiUser
from bench.goals import HISTORY_OWN_RECORDS, PAGE_ENDS_SHARE, PAGED_RECORDS
from bench.harness import Harness
from bench.history_fill import explain_postgres, explain_sqlite, fill_postgres, fill_sqlite
from bench.journal_targets import history_targets
from bench.plot import Series, line_plot
from bench.progress import progress
from bench.service import ServiceProcess, running, target_process
from bench.stats import latency_block, percentile, ratio
from bench.targets import JournalMode
from voicecore.adapters.sql_journal.journal import _history_select  # the journal's own query, to explain
from voicecore.core.journal import HistoryQuery
from voicecore.core.session_history import DEFAULT_PAGE
from voicecore.settings import DEFAULT_JOURNAL_FILE

READER = "bench-history-reader"
PAGER = "bench-history-pager"


async def _fill(mode: JournalMode, service: ServiceProcess, own: Mapping[str, int], others: int) -> None:
    started = time.perf_counter()
    if mode == "sqlite":
        await asyncio.to_thread(fill_sqlite, service.workdir / DEFAULT_JOURNAL_FILE, own, others)
    else:
        await fill_postgres(service.settings["JOURNAL_URL"], own, others)
    total = others + sum(own.values())
    progress(f"history: {service.name}: {total:,} records written in {time.perf_counter() - started:.1f}s")


async def _check_reader(user: ApiUser) -> None:
    rooms, cursor = await user.history()
    if len(rooms) != HISTORY_OWN_RECORDS or cursor is not None:
        raise RuntimeError(f"{user.name}: the reader's history is {len(rooms)} records, cursor {cursor!r}")


async def _cursors(pager: ApiUser) -> list[str | None]:
    """Walk the pager's history once, untimed: the cursor of every page (None for the first)."""
    cursors: list[str | None] = [None]
    seen: list[str] = []
    while True:
        rooms, cursor = await pager.history(cursors[-1])
        seen += rooms
        if cursor is None:
            break
        cursors.append(cursor)
    if len(seen) != PAGED_RECORDS or len(set(seen)) != PAGED_RECORDS:
        raise RuntimeError(f"{pager.name}: the walk saw {len(set(seen))} of {PAGED_RECORDS} records")
    return cursors


async def _pages(pagers: Mapping[str, ApiUser], rounds: int) -> dict[str, list[list[float]]]:
    """Each side's time for every page of the walk, round by round: ``times[side][round][page]``.

    A page is asked for exactly as a walking client asks (the cursor the page before
    gave), but in a shuffled order each round, both sides in turn at each page: a
    slower moment of the machine falls on random pages of both, not on the walk's end.
    """
    cursors = {name: await _cursors(pager) for name, pager in pagers.items()}
    count = len(next(iter(cursors.values())))
    if any(len(c) != count for c in cursors.values()):
        raise RuntimeError("the walks have different page counts")
    shuffle = random.Random(19)
    times = {name: [[0.0] * count for _ in range(rounds)] for name in pagers}
    for round_index in range(rounds):
        order = list(range(count))
        shuffle.shuffle(order)
        sides = list(pagers) if round_index % 2 == 0 else list(reversed(list(pagers)))
        for page in order:
            for name in sides:
                started = time.perf_counter()
                await pagers[name].history(cursors[name][page])
                times[name][round_index][page] = time.perf_counter() - started
    return times


def page_figures(walks: Sequence[Sequence[float]]) -> dict[str, Any]:
    """Per page number, the p50 over the rounds; the first and last tenth's p50, pooled, and their ratio."""
    count = len(walks[0])
    per_page = [statistics.median(walk[page] for walk in walks) for page in range(count)]
    end = max(1, round(count * PAGE_ENDS_SHARE))
    first = [walk[page] for walk in walks for page in range(end)]
    last = [walk[page] for walk in walks for page in range(count - end, count)]
    return {
        "pages": count,
        "rounds": len(walks),
        "page_p50_ms": [round(t * 1000, 3) for t in per_page],
        "first_pages_p50_ms": round(percentile(first, 50) * 1000, 3),
        "last_pages_p50_ms": round(percentile(last, 50) * 1000, 3),
        "pages_compared_at_each_end": end,
        "end_over_start": ratio(percentile(last, 50), percentile(first, 50)),
    }


async def _query_plan(mode: JournalMode, service: ServiceProcess) -> list[str]:
    """The journal's query for a page deep in the pager's history, as its database plans it."""
    deep = datetime.now(UTC) - timedelta(days=27)  # the last tenth of a history spread over 30 days
    query: Select[Any] = _history_select(HistoryQuery(PAGER, DEFAULT_PAGE + 1, after=(deep, "")))
    dialect = SQLiteDialect() if mode == "sqlite" else PGDialect()  # type: ignore[no-untyped-call]
    sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    if mode == "sqlite":
        return await asyncio.to_thread(explain_sqlite, service.workdir / DEFAULT_JOURNAL_FILE, sql, ())
    return await explain_postgres(service.settings["JOURNAL_URL"], sql, ())


async def history_phase(h: Harness) -> dict[str, Any]:
    plan = h.plan
    pairs = history_targets()
    targets = [target for pair in pairs.values() for target in pair]
    services = {t.name: target_process(t, h.settings(t, h.livekit), h.log_dir) for t in targets}
    with running(list(services.values())):
        readers = {name: await h.user(name, s.base_url, READER) for name, s in services.items()}
        pagers = {
            mode: await h.user(full.name, services[full.name].base_url, PAGER)
            for mode, (_, full) in pairs.items()
        }
        for mode, (empty, full) in pairs.items():
            others = plan.history_other_records[mode]
            await _fill(mode, services[empty.name], {READER: HISTORY_OWN_RECORDS}, 0)
            await _fill(
                mode,
                services[full.name],
                {READER: HISTORY_OWN_RECORDS, PAGER: PAGED_RECORDS},
                others - PAGED_RECORDS,
            )
        for reader in readers.values():
            await _check_reader(reader)
        progress(f"history: a reader's page, {plan.history_rounds} rounds x {plan.latency_block} per side")
        samples = await h.sample(
            {name: reader.history for name, reader in readers.items()}, rounds=plan.history_rounds
        )
        progress(
            f"history: every page of {PAGED_RECORDS:,} records ({DEFAULT_PAGE} a page), "
            f"{plan.page_rounds} rounds in shuffled order"
        )
        walks = await _pages({pagers[mode].name: pagers[mode] for mode in pairs}, plan.page_rounds)
        plans = {mode: await _query_plan(mode, services[full.name]) for mode, (_, full) in pairs.items()}
    out: dict[str, Any] = {
        "own_records": HISTORY_OWN_RECORDS,
        "other_records": dict(plan.history_other_records),
        "reader": latency_block(samples, None),
        "ratio_other_records_p50": {
            full.name: ratio(percentile(samples[full.name], 50), percentile(samples[empty.name], 50))
            for empty, full in pairs.values()
        },
        "paging": {
            full.name: {"database": mode, **page_figures(walks[full.name])}
            for mode, (_, full) in pairs.items()
        },
        "query_plans": plans,
    }
    out["plot"] = str(page_time_chart(out["paging"], h.plot_path("history-pages")))
    return out


def page_time_chart(paging: Mapping[str, Any], path: Path) -> Path:
    """Page time (p50 over the walks) against page number, one line per database."""
    lines = [
        Series(name, list(range(1, block["pages"] + 1)), block["page_p50_ms"])
        for name, block in paging.items()
    ]
    return line_plot(
        path,
        title=f"Walking one user's {PAGED_RECORDS:,} records, {DEFAULT_PAGE} a page",
        x_label="page number",
        y_label=f"page time, p50 of {next(iter(paging.values()))['rounds']} rounds, ms",
        series=lines,
        markers=False,
    )
