"""What each kind of LiveKit failure means to an operator: readiness's answer, and what to check."""

from __future__ import annotations

from dataclasses import dataclass

from voicecore.core.errors import GatewayError, GatewayFailure


@dataclass(frozen=True, slots=True)
class LiveKitProblem:
    readiness: str  # /readyz's detail
    check: str  # what the ERROR log tells an operator to check


LIVEKIT_UNREACHABLE = "LiveKit is not reachable"
_UNREACHABLE = LiveKitProblem(
    LIVEKIT_UNREACHABLE,
    "check that LiveKit runs and that LIVEKIT_URL (host and port) reaches it from this machine",
)
# LiveKit failures, by kind: what /readyz says, and what the log says to check.
LIVEKIT_PROBLEMS: dict[GatewayFailure, LiveKitProblem] = {
    GatewayFailure.CREDENTIALS_REFUSED: LiveKitProblem(
        "LiveKit refused our credentials (check LIVEKIT_API_KEY / LIVEKIT_API_SECRET)",
        "check LIVEKIT_API_KEY and LIVEKIT_API_SECRET: LiveKit does not know this key, or the secret is "
        "not the key's pair",
    ),
    GatewayFailure.TLS_TO_PLAIN_SERVER: LiveKitProblem(
        "TLS to a non-TLS server (LIVEKIT_URL is wss:// or https://, LiveKit answers without TLS)",
        "check LIVEKIT_URL: use ws:// or http:// for a LiveKit server without TLS, or put TLS in front of it",
    ),
    GatewayFailure.TLS_FAILED: LiveKitProblem(
        "TLS to LiveKit failed",
        "check LIVEKIT_URL's host name and LiveKit's TLS certificate: trusted here, and for that name?",
    ),
    GatewayFailure.UNREACHABLE: _UNREACHABLE,
    GatewayFailure.TIMEOUT: LiveKitProblem(
        LIVEKIT_UNREACHABLE,
        "LiveKit did not answer within LIVEKIT_TIMEOUT_SECONDS: check that it runs, its load, and the "
        "network between",
    ),
    GatewayFailure.ERROR_ANSWER: LiveKitProblem(
        LIVEKIT_UNREACHABLE, "LiveKit answered with an error: check LiveKit's own log"
    ),
}


def livekit_problem(exc: GatewayError) -> LiveKitProblem:
    return LIVEKIT_PROBLEMS.get(exc.reason, _UNREACHABLE)
