"""The one place that says how errors answer over HTTP: status, detail and headers, in one body shape.

Every error answer is ``{"detail": "..."}``, written by ``ErrorAnswer.response``
and nowhere else. Details are fixed, generic sentences: never an exception's text,
a URL, a token or a stack trace, and never a configurable limit stated as fixed.
A detail may carry the request's own numbers (how many sessions the caller has
live), read from the error, never its text. The OpenAPI document shows these
same answers (voicecore_http.openapi_errors).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC

from fastapi.responses import JSONResponse

from voicecore.core.errors import (
    CreationRateLimited,
    FieldNotAllowed,
    GatewayError,
    IdempotencyKeyBusy,
    IdempotencyKeyReused,
    InvalidHistoryCursor,
    InvalidIdempotencyKey,
    InvalidUserId,
    JournalSchemaOutdated,
    JournalUnavailable,
    NotSessionOwner,
    SessionIndexRebuilding,
    SessionNotFound,
    StoreError,
    TooManyLiveSessions,
    UnknownAgentType,
    UsageExhausted,
    WebhookNotReadable,
    WebhookNotVerified,
)
from voicecore.core.idempotency import MAX_KEY_LENGTH
from voicecore_http.auth import HostUserAllowanceUnreadable, HostUserWithoutId, NotAuthenticated
from voicecore_http.livekit_problems import LIVEKIT_UNREACHABLE


@dataclass(frozen=True, slots=True)
class ErrorAnswer:
    status: int
    # The answer's detail; where ``detail_of`` words it from the error, the example shown instead.
    detail: str
    description: str  # for the OpenAPI document
    detail_of: Callable[[Exception], str] | None = None
    headers_of: Callable[[Exception], Mapping[str, str]] | None = None

    def response(self, detail: str | None = None, headers: Mapping[str, str] | None = None) -> JSONResponse:
        """This answer as sent: the one ``{"detail": "..."}`` body (``detail`` replaces the fixed one)."""
        return JSONResponse(
            {"detail": self.detail if detail is None else detail}, status_code=self.status, headers=headers
        )

    def response_to(self, exc: Exception) -> JSONResponse:
        """This answer to ``exc``, with the detail and headers worded from the error's own fields."""
        return self.response(
            self.detail_of(exc) if self.detail_of else None,
            self.headers_of(exc) if self.headers_of else None,
        )


def _bearer_challenge(_: Exception) -> Mapping[str, str]:
    return {"WWW-Authenticate": "Bearer"}


def _at_the_cap(live: object) -> str:
    return (
        f"You have {live} live voice sessions, the most allowed at once. End one, or wait for an "
        "unused one to expire, to start another"
    )


def _caller_at_the_cap(exc: Exception) -> str:
    assert isinstance(exc, TooManyLiveSessions)
    return _at_the_cap(exc.live)


def _retry_after(exc: Exception) -> Mapping[str, str]:
    assert isinstance(exc, CreationRateLimited)
    return {"Retry-After": str(exc.retry_after_seconds)}


_FIELD_NOT_ALLOWED = "Field not allowed"


def _field_and_why(exc: Exception) -> str:
    assert isinstance(exc, FieldNotAllowed)
    # Both parts are voicecore's own words, never the client's input.
    return f"{_FIELD_NOT_ALLOWED}: {exc.field} ({exc.reason})"


NOT_AUTHENTICATED = ErrorAnswer(
    401,
    "Not authenticated",
    "Missing, malformed, expired or wrongly signed token.",
    headers_of=_bearer_challenge,
)
NOT_OWNER = ErrorAnswer(403, "This voice session belongs to another user", "The session is someone else's.")
NOT_FOUND = ErrorAnswer(404, "Voice session not found", "No such session (or a name that can never be one).")
INVALID = ErrorAnswer(422, "Invalid request", "The body is not valid JSON or does not match the schema.")
LIVEKIT_FAILED = ErrorAnswer(
    500, "The voice service is temporarily unavailable; please retry", "LiveKit failed or did not answer."
)
STORE_FAILED = ErrorAnswer(
    503,
    "Session state is temporarily unavailable; please retry",
    "The session store failed or did not answer.",
)


def _rebuilt_after(exc: Exception) -> Mapping[str, str]:
    assert isinstance(exc, SessionIndexRebuilding)
    return {"Retry-After": str(exc.retry_after_seconds)}


STORE_REBUILDING = ErrorAnswer(
    503,
    "Session state is being restored; retry after Retry-After seconds",
    "The session store lost its memory (a Redis restarted empty, flushed or restored from an older "
    "snapshot) and the index of live sessions is being rebuilt from LiveKit: no session starts until "
    "the live-session cap can be counted again. Retry-After: about how long that takes.",
    headers_of=_rebuilt_after,
)
JOURNAL_FAILED = ErrorAnswer(
    503,
    "Session history is temporarily unavailable; please retry",
    "The session journal's database failed or did not answer (a start cannot be recorded, so none is made).",
)
UNEXPECTED = ErrorAnswer(500, "Internal server error", "An unexpected failure.")
TOO_MANY_LIVE = ErrorAnswer(
    429,
    _at_the_cap("N"),
    "The caller is at the live-session cap (SESSION_MAX_LIVE_PER_USER; N is how many sessions the caller "
    "has live), or started too many sessions in the last minute (SESSION_CREATES_PER_MINUTE; then with "
    "Retry-After).",
    detail_of=_caller_at_the_cap,
)


def _used_up(used: object, limit: object, resets_at: object) -> str:
    return f"You have used {used} of your {limit} voice minutes; they reset at {resets_at}"


def _callers_usage(exc: Exception) -> str:
    assert isinstance(exc, UsageExhausted)
    return _used_up(exc.used_minutes, exc.limit_minutes, exc.resets_at.astimezone(UTC).isoformat())


def _until_the_reset(exc: Exception) -> Mapping[str, str]:
    assert isinstance(exc, UsageExhausted)
    return {"Retry-After": str(exc.retry_after_seconds)}


USAGE_EXHAUSTED = ErrorAnswer(
    402,
    _used_up("N", "M", "T"),
    "The caller's minute allowance for the period is used up (USAGE_LIMIT_MINUTES, or the user's own "
    "through USAGE_LIMIT_CLAIM): N minutes used of M, and T the moment the period resets. "
    "Retry-After: the seconds until then. Unlike a refusal for starting too often, waiting a little "
    "does not help.",
    detail_of=_callers_usage,
    headers_of=_until_the_reset,
)
RATE_LIMITED = ErrorAnswer(
    429,
    "Too many voice sessions started in the last minute; retry after Retry-After seconds",
    "",
    headers_of=_retry_after,
)
KEY_BUSY = ErrorAnswer(
    409,
    "A request with this Idempotency-Key is still creating its session; retry shortly",
    "The first request with this Idempotency-Key has not finished.",
)
WEBHOOK_NOT_VERIFIED = ErrorAnswer(401, "Webhook not verified", "Not signed by the LiveKit server.")
WEBHOOK_NOT_READABLE = ErrorAnswer(400, "Webhook body is not an event", "Verified, but not an event.")
# /readyz's answer; the detail says which LiveKit problem it is (voicecore_http.livekit_problems),
# or that the session store does not answer.
NOT_READY = ErrorAnswer(
    503,
    LIVEKIT_UNREACHABLE,
    "LiveKit does not answer, refuses our credentials, or does not speak TLS; or the session store does "
    "not answer (then every session call would fail too).",
)
STORE_UNREACHABLE = "The session store is not reachable"

# Answered before routing and authentication (voicecore_http.limits, voicecore_http.protocol).
REQUEST_TIMEOUT = ErrorAnswer(408, "Request timeout", "The request did not arrive whole in time.")
BODY_TOO_LARGE = ErrorAnswer(413, "Request body too large", "The body is larger than HTTP_MAX_BODY_BYTES.")
HEAD_TOO_LARGE = ErrorAnswer(
    431,
    "Request header fields too large",
    "The request line and headers exceed HTTP_MAX_HEADER_BYTES, or there are more than HTTP_MAX_HEADERS.",
)

# The table: domain (and auth) errors -> HTTP answers.
ERROR_TABLE: dict[type[Exception], ErrorAnswer] = {
    NotAuthenticated: NOT_AUTHENTICATED,
    NotSessionOwner: NOT_OWNER,
    SessionNotFound: NOT_FOUND,
    InvalidUserId: ErrorAnswer(
        422, "This account's user id cannot be used for voice sessions", "The user id cannot name a room."
    ),
    UnknownAgentType: ErrorAnswer(422, "Unknown agent type", "The agent type does not exist."),
    FieldNotAllowed: ErrorAnswer(
        422, _FIELD_NOT_ALLOWED, "A field the caller may not set.", detail_of=_field_and_why
    ),
    GatewayError: LIVEKIT_FAILED,
    SessionIndexRebuilding: STORE_REBUILDING,  # before StoreError, which it is one of
    StoreError: STORE_FAILED,
    JournalUnavailable: JOURNAL_FAILED,
    JournalSchemaOutdated: JOURNAL_FAILED,
    InvalidHistoryCursor: ErrorAnswer(
        422,
        "Invalid request: cursor is not one this service gave you",
        "A tampered or someone else's cursor.",
    ),
    WebhookNotVerified: WEBHOOK_NOT_VERIFIED,
    WebhookNotReadable: WEBHOOK_NOT_READABLE,
    TooManyLiveSessions: TOO_MANY_LIVE,
    CreationRateLimited: RATE_LIMITED,
    UsageExhausted: USAGE_EXHAUSTED,
    InvalidIdempotencyKey: ErrorAnswer(
        422,
        f"Invalid request: Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
        "A malformed Idempotency-Key.",
    ),
    IdempotencyKeyReused: ErrorAnswer(
        422,
        "Invalid request: this Idempotency-Key was used with a different request body",
        "The key was used with another body.",
    ),
    IdempotencyKeyBusy: KEY_BUSY,
    HostUserWithoutId: UNEXPECTED,
    HostUserAllowanceUnreadable: UNEXPECTED,
}


def answer_for(exc: Exception) -> ErrorAnswer:
    """The table's answer to ``exc``, an instance of one of its error types."""
    return next(answer for kind, answer in ERROR_TABLE.items() if isinstance(exc, kind))
