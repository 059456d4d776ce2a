"""Reliability suites: shared fixtures; the figures they measured are printed at the end of every run."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from dependency_injector import providers

from tests.conftest import TEST_API_KEY, TEST_API_SECRET
from tests.http.conftest import CONFIGURED_LIVEKIT_URL
from tests.reliability.support import FIGURES, container_for, serving
from voicecore.adapters.memory import InMemoryRoomGateway


@pytest.fixture
async def memory_client(memory_gateway: InMemoryRoomGateway) -> AsyncIterator[httpx.AsyncClient]:
    container = container_for(CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET)
    container.room_gateway.override(providers.Object(memory_gateway))
    async with serving(container) as client:
        yield client


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES.lines:
        return
    terminalreporter.write_sep("-", "reliability figures")
    for section, lines in FIGURES.lines.items():
        terminalreporter.write_line(f"{section}:")
        for line in lines:
            terminalreporter.write_line(f"  {line}")
