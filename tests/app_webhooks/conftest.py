"""Fixtures of the app-webhook tests: both databases (a fresh journal each), a secret, a real receiver.

The PostgreSQL server is the suite's (tests/conftest.py); LiveKit is a server of these tests' own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.journals import postgres_journal_url, sqlite_journal_url
from tests.support.webhook_receiver import WebhookReceiver, new_secret, running_receiver
from voicecore.testing.livekit_server import LocalLiveKitServer, running_livekit_server
from voicecore.testing.postgres_server import LocalPostgresServer


@pytest.fixture(scope="session")
def webhook_livekit() -> Iterator[LocalLiveKitServer]:
    """A LiveKit server of these tests' own.

    A service's start-up repair records every voicecore room LiveKit lists, and
    would send events for the rooms other tests leave on a shared server.
    """
    with running_livekit_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: LocalPostgresServer) -> str:
    """A fresh, migrated journal database on PostgreSQL."""
    if not postgres_server.running:
        postgres_server.start()
    return postgres_journal_url(postgres_server)


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated journal database on each engine."""
    if request.param == "sqlite":
        return sqlite_journal_url(tmp_path)
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def webhook_secret() -> str:
    return new_secret()


@pytest.fixture
def receiver(webhook_secret: str) -> Iterator[WebhookReceiver]:
    with running_receiver([webhook_secret]) as running:
        yield running
