"""What every browser scenario does around its own steps: the isolation check, the artifacts
folder, the logs kept on failure, a stopwatch, and ``OUT/result.json``."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.support.browser.netns import NotIsolated, inside_private_network


class Stopwatch:
    def __init__(self) -> None:
        self._started = time.monotonic()
        self.laps: dict[str, float] = {}

    def lap(self, step: str) -> None:
        self.laps[step] = round(time.monotonic() - self._started, 3)


@contextlib.contextmanager
def logs_kept_on_failure(out: Path, *logs: Path) -> Iterator[None]:
    """On any failure inside, copy each existing log into ``out`` under its own name."""
    try:
        yield
    except BaseException:
        for log in logs:
            if log.exists():
                shutil.copyfile(log, out / log.name)
        raise


def run_scenario(argv: list[str], screenshot: str, steps: Callable[[Path, Stopwatch], dict[str, Any]]) -> int:
    """Run ``steps(out, watch)`` with ``out = argv[0]``, and record what it returned or how it failed.

    ``result.json`` holds the steps' findings, ``ok``, the ``error`` if any, and each lap.
    """
    if not inside_private_network():
        raise NotIsolated("run this scenario through tests.support.browser.netns.run_isolated")
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    (out / screenshot).unlink(missing_ok=True)
    watch = Stopwatch()
    result: dict[str, Any] = {"ok": False}
    try:
        result |= steps(out, watch)
        result["ok"] = True
    except Exception:
        result["error"] = traceback.format_exc()
    result["seconds"] = watch.laps
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["ok"] else 1
