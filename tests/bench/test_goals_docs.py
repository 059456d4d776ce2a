"""docs/benchmarks.md states the goals exactly as bench/goals.py names them."""

from __future__ import annotations

from pathlib import Path

from bench import goals

DOCS = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"


def test_the_docs_carry_the_goals_table() -> None:
    assert goals.markdown_table() in DOCS.read_text(), "paste `python -m bench.goals` into docs/benchmarks.md"


def test_goal_keys_are_unique() -> None:
    keys = [goal.key for goal in goals.ALL]
    assert len(set(keys)) == len(keys)
