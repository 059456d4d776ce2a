"""Values the tests share: credentials made for tests only, the API's paths and documented errors."""

from __future__ import annotations

TEST_API_KEY = "APItestkey"
TEST_API_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
AUTH_SECRET = "auth-secret-for-tests-only-0123456789abcdef"
# What the in-memory service hands clients as livekit_url.
CONFIGURED_LIVEKIT_URL = "wss://voicecore-test.livekit.cloud"

# The agent name a service under test dispatches when a test configures one (no worker takes it).
AGENT_NAME = "fitness-coach"

BASE = "/api/v1/voice-sessions"
DETAILS = f"{BASE}/connection-details"
BASE_URL = "http://voicecore.test"

# The documented error answers (README "The API", docs/http-api.md).
NOT_AUTHENTICATED = {"detail": "Not authenticated"}
NOT_OWNER = {"detail": "This voice session belongs to another user"}
NOT_FOUND = {"detail": "Voice session not found"}
INVALID_USER_ID = {"detail": "This account's user id cannot be used for voice sessions"}
LIVEKIT_FAILED = {"detail": "The voice service is temporarily unavailable; please retry"}
NOT_READY = {"detail": "LiveKit is not reachable"}
BODY_TOO_LARGE = {"detail": "Request body too large"}

# The guardrails' documented answers (docs/http-api.md "Limits: 429, 409 and 422 on a start").
RATE_LIMITED = {
    "detail": "Too many voice sessions started in the last minute; retry after Retry-After seconds"
}
STILL_CREATING = {
    "detail": "A request with this Idempotency-Key is still creating its session; retry shortly"
}
ANOTHER_BODY = {"detail": "Invalid request: this Idempotency-Key was used with a different request body"}
MALFORMED_KEY = {"detail": "Invalid request: Idempotency-Key must be 1 to 255 printable ASCII characters"}


def at_the_cap(live: int) -> dict[str, str]:
    """The 429 of a user who has ``live`` live sessions, the most allowed."""
    return {
        "detail": f"You have {live} live voice sessions, the most allowed at once. End one, or wait for an "
        "unused one to expire, to start another"
    }
