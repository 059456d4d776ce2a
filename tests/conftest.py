from __future__ import annotations

import pytest

from voicecore.adapters.livekit import LiveKitTokenIssuer
from voicecore.adapters.memory import InMemoryRoomGateway
from voicecore.core.sessions import VoiceSessions

TEST_API_KEY = "APItestkey"
TEST_API_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"


@pytest.fixture
def memory_gateway() -> InMemoryRoomGateway:
    return InMemoryRoomGateway()


@pytest.fixture
def token_issuer() -> LiveKitTokenIssuer:
    return LiveKitTokenIssuer(TEST_API_KEY, TEST_API_SECRET)


@pytest.fixture
def sessions(memory_gateway: InMemoryRoomGateway, token_issuer: LiveKitTokenIssuer) -> VoiceSessions:
    return VoiceSessions(memory_gateway, token_issuer)
