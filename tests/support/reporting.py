"""A pytest plugin: the livekit marker, the server's log under failing tests, the figures at the end.

``make test`` runs the suite on pytest-xdist workers (scripts/test.sh). Each worker measures
its own figures; it hands them to the controller when it finishes, and the controller, the
only process that writes the terminal summary, prints them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.figures import FIGURES
from voicecore.testing.livekit_server import LocalLiveKitServer

_FIGURES_KEY = "voicecore_figures"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "livekit_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.livekit)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield
    server = getattr(item, "funcargs", {}).get("livekit_server")
    if report.failed and isinstance(server, LocalLiveKitServer):
        report.sections.append(("livekit-server log (tail)", server.log_tail()))
    return report  # type: ignore[return-value]


def pytest_sessionfinish(session: pytest.Session) -> None:
    worker_output = getattr(session.config, "workeroutput", None)  # set on xdist workers only
    if worker_output is not None:
        worker_output[_FIGURES_KEY] = FIGURES.lines


@pytest.hookimpl(optionalhook=True)  # an xdist hook: plain `pytest` runs without it
def pytest_testnodedown(node: Any, error: object) -> None:
    """On the controller, as each xdist worker finishes: keep the figures it measured."""
    for section, lines in node.workeroutput.get(_FIGURES_KEY, {}).items():
        for line in lines:
            FIGURES.record(section, line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES.lines:
        return
    terminalreporter.write_sep("-", "reliability figures")
    for section, lines in FIGURES.lines.items():
        terminalreporter.write_line(f"{section}:")
        for line in lines:
            terminalreporter.write_line(f"  {line}")
