"""A pytest plugin: the livekit marker, the server's log under failing tests, the figures at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.figures import FIGURES
from voicecore.testing.livekit_server import LocalLiveKitServer


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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES.lines:
        return
    terminalreporter.write_sep("-", "reliability figures")
    for section, lines in FIGURES.lines.items():
        terminalreporter.write_line(f"{section}:")
        for line in lines:
            terminalreporter.write_line(f"  {line}")
