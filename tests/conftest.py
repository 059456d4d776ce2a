from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator

import jwt
import pytest
from hypothesis import settings
from pydantic import SecretStr

from tests.agent_support import AgentWorkerProcess
from tests.reliability.leaks import LEAK_CHECK_MODULE, LeakGuard
from voicecore.adapters.livekit import LiveKitRoomGateway, LiveKitTokenIssuer
from voicecore.adapters.memory import InMemoryRoomGateway
from voicecore.core.sessions import VoiceSessions
from voicecore.devserver import LocalLiveKitServer, find_binary, running_livekit_server

# No per-example deadline: speed is measured by the benchmarks, never by timed tests,
# and a deadline only makes a loaded 2-core CI machine flaky.
settings.register_profile("voicecore", deadline=None, print_blob=True)
settings.load_profile("voicecore")

TEST_API_KEY = "APItestkey"
TEST_API_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"


_CONFIGURATION_PREFIXES = ("LIVEKIT_", "SESSION_", "AUTH_JWT_", "LOG_")


@pytest.fixture(scope="session", autouse=True)
def hermetic_configuration() -> Iterator[None]:
    """A developer's exported LIVEKIT_* or SESSION_* must not change what the tests see."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(_CONFIGURATION_PREFIXES)}
    for name in saved:
        del os.environ[name]
    yield
    os.environ.update(saved)


@pytest.fixture
def memory_gateway() -> InMemoryRoomGateway:
    return InMemoryRoomGateway()


@pytest.fixture
def token_issuer() -> LiveKitTokenIssuer:
    return LiveKitTokenIssuer(TEST_API_KEY, TEST_API_SECRET)


@pytest.fixture
def sessions(memory_gateway: InMemoryRoomGateway, token_issuer: LiveKitTokenIssuer) -> VoiceSessions:
    return VoiceSessions(memory_gateway, token_issuer)


# --- the real LiveKit server ---------------------------------------------------

_server_for_reports: list[LocalLiveKitServer] = []


@pytest.fixture(scope="session")
def livekit_server() -> Iterator[LocalLiveKitServer]:
    binary = find_binary()
    if binary is None or not binary.exists():
        message = (
            "livekit-server is not installed; run `make setup` (needs Go 1.26+) "
            "or set LIVEKIT_SERVER_BIN to a livekit-server binary"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the real LiveKit tests: {message}")
        pytest.skip(message)
    with running_livekit_server(binary) as server:
        _server_for_reports.append(server)
        yield server
        _server_for_reports.remove(server)


@pytest.fixture
async def livekit_gateway(livekit_server: LocalLiveKitServer) -> AsyncIterator[LiveKitRoomGateway]:
    gateway = LiveKitRoomGateway(
        livekit_server.url, livekit_server.api_key, livekit_server.api_secret, timeout_seconds=5
    )
    await gateway.open()
    yield gateway
    await gateway.aclose()


@pytest.fixture
def livekit_token_issuer(livekit_server: LocalLiveKitServer) -> LiveKitTokenIssuer:
    return LiveKitTokenIssuer(livekit_server.api_key, livekit_server.api_secret)


@pytest.fixture(scope="session")
def _session_agent_worker(livekit_server: LocalLiveKitServer) -> Iterator[AgentWorkerProcess]:
    worker = AgentWorkerProcess(livekit_server)
    yield worker
    worker.cleanup()


@pytest.fixture
def agent_worker(_session_agent_worker: AgentWorkerProcess) -> AgentWorkerProcess:
    """The development agent worker, registered as DEV_AGENT_NAME with the session's server.

    Started once; a test may kill and restart it, and the next test gets it running again.
    """
    _session_agent_worker.start()
    return _session_agent_worker


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "livekit_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.livekit)
    # The log-leak check reads what every other test logged: it runs last.
    items.sort(key=lambda item: item.nodeid.startswith(LEAK_CHECK_MODULE))


# --- no secret or token in any log ----------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def log_leak_guard() -> Iterator[LeakGuard]:
    """Capture every log record of the session at DEBUG; record every secret and JWT.

    tests/reliability/test_leaks.py (sorted last) checks the capture; this
    finalizer checks it again after every other teardown, and fails loudly.
    """
    from tests.http.conftest import AUTH_SECRET  # noqa: PLC0415 - that conftest imports this one

    guard = LeakGuard()
    guard.add_secret(TEST_API_SECRET)
    guard.add_secret(AUTH_SECRET)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(guard.handler)
    root.setLevel(logging.DEBUG)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jwt, "encode", guard.recording(jwt.encode, guard.add_token))
        patch.setattr(
            SecretStr, "get_secret_value", guard.recording(SecretStr.get_secret_value, guard.add_secret)
        )
        patch.setattr(LocalLiveKitServer, "start", guard.recording_server_start(LocalLiveKitServer.start))
        try:
            yield guard
        finally:
            root.removeHandler(guard.handler)
            root.setLevel(previous_level)
    leaks = guard.leaks()
    if leaks:
        pytest.fail("secrets or tokens reached the logs:\n" + "\n".join(leaks), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield
    if report.failed and _server_for_reports and "livekit_server" in getattr(item, "fixturenames", ()):
        report.sections.append(("livekit-server log (tail)", _server_for_reports[-1].log_tail()))
    return report  # type: ignore[return-value]
