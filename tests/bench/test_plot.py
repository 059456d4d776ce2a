"""The plot helper writes real PNG files of the asked size, whatever the data."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from bench.plot import Series, ecdf_plot, line_plot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_a_line_plot_is_a_png_beside_the_json(tmp_path: Path) -> None:
    path = line_plot(
        tmp_path / "figures" / "latest-list-cost.png",
        title="list",
        x_label="other rooms",
        y_label="p50, ms",
        series=[
            Series("a", [0, 500, 2000], [2.0, 4.0, 12.0]),
            Series("b", [0, 2000], [1.0, 2.0], dashed=True),
        ],
    )
    assert path == tmp_path / "figures" / "latest-list-cost.png"
    assert png_size(path) == (840, 504)


@pytest.mark.parametrize(
    "sides",
    [
        {"voicecore": [0.31]},  # one sample
        {"voicecore": [0.3] * 20, "starter": [0.3] * 20},  # no spread at all
        {"voicecore": [0.0, 0.0, 1.5], "starter": [0.2, 0.26, 0.36, 20.0]},  # zeros, a long tail
    ],
)
def test_an_ecdf_plot_draws_edge_case_samples(tmp_path: Path, sides: dict[str, list[float]]) -> None:
    path = ecdf_plot(tmp_path / "time-to-agent.png", title="t", x_label="s", samples=sides)
    assert png_size(path) == (840, 504)
