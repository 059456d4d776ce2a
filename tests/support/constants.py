"""Values the tests share: credentials made for tests only, the API's paths and documented errors."""

from __future__ import annotations

TEST_API_KEY = "APItestkey"
TEST_API_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
AUTH_SECRET = "auth-secret-for-tests-only-0123456789abcdef"
# What the in-memory service hands clients as livekit_url.
CONFIGURED_LIVEKIT_URL = "wss://voicecore-test.livekit.cloud"

BASE = "/api/v1/voice-sessions"
BASE_URL = "http://voicecore.test"

# The documented error answers (README "The API", docs/http-api.md).
NOT_AUTHENTICATED = {"detail": "Not authenticated"}
NOT_OWNER = {"detail": "This voice session belongs to another user"}
NOT_FOUND = {"detail": "Voice session not found"}
INVALID_USER_ID = {"detail": "This account's user id cannot be used for voice sessions"}
LIVEKIT_FAILED = {"detail": "The voice service is temporarily unavailable; please retry"}
NOT_READY = {"detail": "LiveKit is not reachable"}
