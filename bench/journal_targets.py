"""The journal's targets: voicecore without a database, on each database, and the floor with a bare INSERT.

What the journal and history phases serve for themselves, besides ``bench.targets``' standard ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

from bench import floor_app, journal_free
from bench.targets import JournalMode, Target

# The journal phase: voicecore without a database, on each database, and the floor with a bare INSERT.
JOURNAL_NONE: Final = "journal_none"
JOURNAL_ON: Final[Mapping[JournalMode, str]] = {"sqlite": "journal_sqlite", "postgres": "journal_postgres"}
FLOOR_INSERT: Final[Mapping[JournalMode, str]] = {"sqlite": "floor_sqlite", "postgres": "floor_postgres"}
JOURNAL_LABELS: Final[Mapping[JournalMode, str]] = {
    "sqlite": "the SQLite default, in its own working directory",
    "postgres": "PostgreSQL, a database of its own on the benchmark's server",
}


def journal_targets(repo: Path) -> list[Target]:
    """What the journal phase serves besides the standard floor: its reference and its variants."""
    served = [
        Target(
            JOURNAL_NONE,
            "python -m bench.journal_free: voicecore with its journal in a dict (no database); "
            "what the journal adds is taken from it",
            module=journal_free.__name__,
            pythonpath=str(repo),
        )
    ]
    served += [
        Target(name, f"python -m voicecore_http, journal on {JOURNAL_LABELS[mode]}", journal=mode)
        for mode, name in JOURNAL_ON.items()
    ]
    served += [
        Target(
            name,
            f"the floor plus one bare INSERT of the journal's row per create ({JOURNAL_LABELS[mode]})",
            log_level="WARNING",
            journal=mode,
            env={floor_app.INSERT: mode},
            module=floor_app.__name__,
            pythonpath=str(repo),
        )
        for mode, name in FLOOR_INSERT.items()
    ]
    return served


def history_targets() -> dict[JournalMode, tuple[Target, Target]]:
    """Per database: (a journal with no other users' records, a journal with many), for the history phase."""
    return {
        mode: (
            Target(f"history_{mode}_none", f"voicecore, journal on {JOURNAL_LABELS[mode]}", journal=mode),
            Target(
                f"history_{mode}_full",
                f"voicecore, journal on {JOURNAL_LABELS[mode]}, filled with other users' records",
                journal=mode,
            ),
        )
        for mode in JOURNAL_LABELS
    }
