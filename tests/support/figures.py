"""Figures the reliability suites measure; tests/support/reporting.py prints them at the end of a run."""

from __future__ import annotations

import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Figures:
    lines: dict[str, list[str]] = field(default_factory=dict)

    def record(self, section: str, line: str) -> None:
        self.lines.setdefault(section, []).append(line)


FIGURES = Figures()


async def timed(coroutine: Coroutine[Any, Any, T]) -> tuple[T, float]:
    started = time.monotonic()
    result = await coroutine
    return result, time.monotonic() - started
