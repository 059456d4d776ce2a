"""The run's figures drawn from its results: the list cost against other users' rooms, per store."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.plot import Series, line_plot

# Drawn beside the services: what LiveKit alone costs with a full scan and with a per-user index.
_REFERENCES = {
    "direct_scan": "direct: full ListRooms",
    "direct_indexed": "direct: ListRooms(names) + participants",
}


def list_cost_chart(block: Mapping[str, Any], path: Path) -> Path:
    """p50 of a user's list against the other users' rooms present (the p95 are in the JSON)."""
    levels = sorted(block["levels"], key=int)
    x = [int(level) for level in levels]

    def series(name: str, label: str, *, dashed: bool = False) -> Series:
        return Series(label, x, [block["levels"][level][name]["p50_ms"] for level in levels], dashed=dashed)

    lines = [series(name, f"{name} ({store})") for name, store in block["stores"].items()]
    lines += [series(name, label, dashed=True) for name, label in _REFERENCES.items()]
    return line_plot(
        path,
        title=f"A user's list ({block['owned_rooms_per_user']} own rooms) against other users' rooms",
        x_label="other users' rooms in LiveKit",
        y_label="p50, ms",
        series=lines,
    )
