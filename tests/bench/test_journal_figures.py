"""The issue-19 figures: intervals of a ratio, page figures, and the goals judged from them."""

from __future__ import annotations

import random
from typing import Any

import pytest

from bench import goals
from bench.phases.history import page_figures
from bench.phases.journal import unchanged
from bench.stats import p50_ratio_interval, rounds_of
from bench.table import table
from bench.verdicts import verdicts


def samples(median: float, rounds: int = 40, block: int = 10, seed: int = 1) -> list[float]:
    draw = random.Random(seed)
    return [median * draw.uniform(0.8, 1.2) for _ in range(rounds * block)]


def test_rounds_are_cut_back_in_order() -> None:
    assert rounds_of([1, 2, 3, 4, 5, 6], 2) == [[1, 2], [3, 4], [5, 6]]


def test_the_interval_holds_one_for_the_same_cost_and_not_for_a_slower_side() -> None:
    same = p50_ratio_interval(samples(2.0, seed=1), samples(2.0, seed=2), block=10)
    slower = p50_ratio_interval(samples(2.4, seed=3), samples(2.0, seed=4), block=10)
    assert same[0] <= 1.0 <= same[1]
    assert 1.0 < slower[0] <= 1.2 <= slower[1]


def test_the_interval_needs_the_same_rounds() -> None:
    with pytest.raises(ValueError, match="same rounds"):
        p50_ratio_interval([1.0] * 20, [1.0] * 30, block=10)


def test_keyset_pages_are_flat_and_offset_pages_are_not() -> None:
    keyset = [[0.004 + 0.0001 * (page % 3) for page in range(500)] for _ in range(3)]
    offset = [[0.004 + 0.00004 * page for page in range(500)] for _ in range(3)]
    flat, growing = page_figures(keyset), page_figures(offset)
    assert (flat["pages"], flat["rounds"], flat["pages_compared_at_each_end"]) == (500, 3, 50)
    assert goals.HISTORY_PAGE_END_VS_START.met(flat["end_over_start"])
    assert not goals.HISTORY_PAGE_END_VS_START.met(growing["end_over_start"])


def run(*, floor_sqlite_ms: float) -> dict[str, Any]:
    live = unchanged(
        {
            "none": samples(2.0, seed=5),
            "journal_sqlite": samples(2.0, seed=6),
            "journal_postgres": samples(2.6, seed=7),
        },
        "none",
        ["journal_sqlite", "journal_postgres"],
        10,
    )
    create = {
        name: {"p50_ms": p50, "p95_ms": p50 * 2}
        for name, p50 in {
            "journal_none": 4.0,
            "journal_sqlite": 4.3,
            "journal_postgres": 5.0,
            "floor_proxy": 3.0,
            "floor_sqlite": floor_sqlite_ms,
            "floor_postgres": 3.5,
        }.items()
    }
    create["added_p50_ms"] = {
        "sqlite": {"voicecore": 0.3, "floor": round(floor_sqlite_ms - 3.0, 3)},
        "postgres": {"voicecore": 1.0, "floor": 0.5},
    }
    paging = {
        "pages": 500,
        "pages_compared_at_each_end": 50,
        "first_pages_p50_ms": 4.0,
        "last_pages_p50_ms": 4.1,
    }
    return {
        "mode": "quick",
        "journal": {
            "create": create,
            "live_reads": {"status_vs_none": live, "list_vs_none": live},
        },
        "history": {
            "own_records": 20,
            "other_records": goals.HISTORY_OTHER_RECORDS,
            "reader": {"history_sqlite_full": {"p50_ms": 3.0, "p95_ms": 4.0}},
            "ratio_other_records_p50": {"history_sqlite_full": 1.05, "history_postgres_full": 1.3},
            "paging": {"history_sqlite_full": paging | {"end_over_start": 1.02}},
        },
        "cleanup": {"rooms_deleted": 0, "rooms_left_in_livekit": 0},
    }


def judged(results: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(v["goal"], v["subject"]): v for v in verdicts(results)["verdicts"]}


def test_the_journal_goals_are_judged_from_the_figures() -> None:
    found = judged(run(floor_sqlite_ms=3.25))
    sqlite = found[goals.JOURNAL_CREATE_ADDED_VS_FLOOR.key, "journal_sqlite"]
    postgres = found[goals.JOURNAL_CREATE_ADDED_VS_FLOOR.key, "journal_postgres"]
    assert (sqlite["value"], sqlite["met"], sqlite["floor_added_ms"]) == (pytest.approx(1.2), True, 0.25)
    assert (postgres["value"], postgres["met"]) == (pytest.approx(2.0), False)
    assert found[goals.HISTORY_WITH_OTHER_RECORDS.key, "history_sqlite_full"]["met"] is True
    assert found[goals.HISTORY_WITH_OTHER_RECORDS.key, "history_postgres_full"]["met"] is False
    assert found[goals.HISTORY_PAGE_END_VS_START.key, "history_sqlite_full"]["met"] is True
    assert found[goals.JOURNAL_STATUS_UNCHANGED.key, "journal_sqlite"]["met"] is True
    assert (
        found[goals.JOURNAL_LIST_UNCHANGED.key, "journal_postgres"]["met"] is False
    )  # 1.3x, measurably slower


def test_no_create_ratio_is_formed_when_the_bare_insert_added_nothing() -> None:
    judgement = verdicts(run(floor_sqlite_ms=2.9))
    assert (goals.JOURNAL_CREATE_ADDED_VS_FLOOR.key, "journal_sqlite") not in judged(run(floor_sqlite_ms=2.9))
    assert any(key.startswith(goals.JOURNAL_CREATE_ADDED_VS_FLOOR.key) for key in judgement["not_judged"])
    assert goals.JOURNAL_CREATE_ADDED_VS_FLOOR.key not in judgement["not_measured_yet"]
    assert goals.CREATE_P50_VS_DIRECT.key in judgement["not_measured_yet"]


def test_the_table_shows_a_run_of_only_the_journal_phases() -> None:
    printed = table(run(floor_sqlite_ms=3.25) | {"goals": verdicts(run(floor_sqlite_ms=3.25))})
    assert "one bare INSERT, to the floor: 0.25 ms" in printed
    assert "history_postgres_full over none: 1.30x" in printed
