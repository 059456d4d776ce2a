"""Figures as PNG files beside the JSON, drawn with matplotlib's object API (no pyplot, no global state).

``line_plot`` draws a measure against a parameter, one line per side (the list cost
against other users' rooms, one line per store); ``ecdf_plot`` draws distributions
of samples, one step curve per side (time-to-agent, say).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

_SIZE_INCHES = (7.0, 4.2)
_DPI = 120


@dataclass(frozen=True)
class Series:
    label: str
    x: Sequence[float]
    y: Sequence[float]
    dashed: bool = False  # a reference drawn beside the measured sides


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=_DPI)
    return path


def line_plot(
    path: Path, *, title: str, x_label: str, y_label: str, series: Sequence[Series], markers: bool = True
) -> Path:
    """One line per series, with a marker at each point unless there are too many; references dashed."""
    figure = Figure(figsize=_SIZE_INCHES, layout="constrained")
    axes = figure.subplots()
    for line in series:
        axes.plot(
            line.x,
            line.y,
            marker="o" if markers else None,
            linestyle="--" if line.dashed else "-",
            label=line.label,
        )
    axes.set(title=title, xlabel=x_label, ylabel=y_label)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend()
    return _save(figure, path)


def ecdf_plot(path: Path, *, title: str, x_label: str, samples: Mapping[str, Sequence[float]]) -> Path:
    """The empirical distribution of each side's samples: the share at or below each value."""
    figure = Figure(figsize=_SIZE_INCHES, layout="constrained")
    axes = figure.subplots()
    for label, values in samples.items():
        ordered = sorted(values)
        shares = [(i + 1) / len(ordered) for i in range(len(ordered))]
        axes.step(ordered, shares, where="post", label=f"{label} (n={len(ordered)})")
    axes.set(title=title, xlabel=x_label, ylabel="share of samples at or below")
    axes.set_ylim(0, 1)
    axes.grid(alpha=0.3)
    axes.legend()
    return _save(figure, path)
