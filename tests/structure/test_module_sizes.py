"""No module over 300 lines in the shipped packages or the bench: one job per module."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 300


def test_no_module_is_over_300_lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for folder in ("voicecore", "voicecore_http", "bench")
        for path in (ROOT / folder).rglob("*.py")
    }
    assert len(sizes) > 100  # the walk found the packages
    assert {path: lines for path, lines in sizes.items() if lines > MAX_LINES} == {}
