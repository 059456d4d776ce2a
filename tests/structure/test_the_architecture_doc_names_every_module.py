"""docs/architecture.md names every module of the shipped packages, so it cannot drift silently.

A module is named by its path from the repository's root (``voicecore/core/bounds.py``), in
backticks. Package ``__init__`` files and Alembic's migration scripts (named by their folder)
are left out; a module the doc names that no longer exists fails too.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
MIGRATIONS = "voicecore/adapters/sql_journal/migrations/"


def shipped_modules() -> set[str]:
    return {
        str(path.relative_to(ROOT))
        for package in ("voicecore", "voicecore_http")
        for path in (ROOT / package).rglob("*.py")
        if path.name != "__init__.py" and not str(path.relative_to(ROOT)).startswith(MIGRATIONS)
    }


def named_in_the_doc() -> set[str]:
    return set(re.findall(r"`((?:voicecore|voicecore_http)/[\w/]+\.py)`", DOC.read_text()))


def test_every_module_is_named_in_docs_architecture() -> None:
    modules = shipped_modules()
    assert len(modules) > 50  # the walk found the packages
    assert sorted(modules - named_in_the_doc()) == []


def test_every_module_the_doc_names_exists() -> None:
    assert sorted(named_in_the_doc() - shipped_modules()) == []


def test_the_migrations_folder_is_named() -> None:
    assert f"`{MIGRATIONS}`" in DOC.read_text()
