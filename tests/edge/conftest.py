"""Fixtures for the edge suites: the service run as production runs it, on the shared LiveKit server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.service_process import (
    QUICK_IDLE_SECONDS,
    QUICK_REQUEST_SECONDS,
    ServiceProcess,
    running_service,
)
from voicecore.testing.livekit_server import LocalLiveKitServer


@pytest.fixture(scope="module")
def edge_service(
    livekit_server: LocalLiveKitServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """``python -m voicecore_http`` with its default limits."""
    with running_service(tmp_path_factory.mktemp("edge"), livekit_server) as service:
        yield service


@pytest.fixture(scope="module")
def quick_deadline_service(
    livekit_server: LocalLiveKitServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """The service with deadlines short enough to wait for in a test."""
    with running_service(
        tmp_path_factory.mktemp("edge-deadlines"),
        livekit_server,
        HTTP_IDLE_TIMEOUT_SECONDS=str(QUICK_IDLE_SECONDS),
        HTTP_REQUEST_TIMEOUT_SECONDS=str(QUICK_REQUEST_SECONDS),
    ) as service:
        yield service
