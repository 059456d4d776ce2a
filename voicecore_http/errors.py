"""The one place that turns errors into HTTP answers, all shaped ``{"detail": "..."}``.

Details are fixed, generic sentences: never an exception's text, a URL, a token
or a stack trace. LiveKit failures are logged here at ERROR with their cause.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from voicecore.core.errors import (
    CreationRateLimited,
    FieldNotAllowed,
    GatewayError,
    IdempotencyKeyBusy,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    InvalidUserId,
    NotSessionOwner,
    SessionNotFound,
    StoreError,
    TooManyLiveSessions,
    UnknownAgentType,
    WebhookNotReadable,
    WebhookNotVerified,
)
from voicecore.core.log_context import LogContext
from voicecore_http.auth import HostUserWithoutId, NotAuthenticated
from voicecore_http.livekit_problems import livekit_problem
from voicecore_http.schemas import ErrorBody

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ErrorAnswer:
    status: int
    detail: str
    description: str  # for the OpenAPI document


NOT_AUTHENTICATED = ErrorAnswer(
    401, "Not authenticated", "Missing, malformed, expired or wrongly signed token."
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
UNEXPECTED = ErrorAnswer(500, "Internal server error", "An unexpected failure.")
TOO_MANY_LIVE = ErrorAnswer(
    429,
    "You have 3 live voice sessions, the most allowed at once. End one, or wait for an unused one "
    "to expire, to start another",
    "The caller is at the live-session cap (SESSION_MAX_LIVE_PER_USER), or started too many sessions "
    "in the last minute (SESSION_CREATES_PER_MINUTE; then with Retry-After).",
)
RATE_LIMITED = ErrorAnswer(
    429, "Too many voice sessions started in the last minute; retry after Retry-After seconds", ""
)
KEY_BUSY = ErrorAnswer(
    409,
    "A request with this Idempotency-Key is still creating its session; retry shortly",
    "The first request with this Idempotency-Key has not finished.",
)


def _too_many_live(exc: Exception) -> str:
    assert isinstance(exc, TooManyLiveSessions)
    return (
        f"You have {exc.live} live voice sessions, the most allowed at once. End one, or wait for an "
        "unused one to expire, to start another"
    )


def _retry_after(exc: Exception) -> dict[str, str]:
    assert isinstance(exc, CreationRateLimited)
    return {"Retry-After": str(exc.retry_after_seconds)}


# Answers whose detail or headers carry the error's own numbers (never its text).
DETAIL_OF: dict[type[Exception], Callable[[Exception], str]] = {TooManyLiveSessions: _too_many_live}
HEADERS_OF: dict[type[Exception], Callable[[Exception], dict[str, str]]] = {CreationRateLimited: _retry_after}

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
    # The detail goes on to name the field and why (see _domain_error).
    FieldNotAllowed: ErrorAnswer(422, "Field not allowed", "A field the caller may not set."),
    GatewayError: LIVEKIT_FAILED,
    StoreError: STORE_FAILED,
    WebhookNotVerified: ErrorAnswer(401, "Webhook not verified", "Not signed by the LiveKit server."),
    WebhookNotReadable: ErrorAnswer(400, "Webhook body is not an event", "Verified, but not an event."),
    TooManyLiveSessions: TOO_MANY_LIVE,
    CreationRateLimited: RATE_LIMITED,
    InvalidIdempotencyKey: ErrorAnswer(
        422,
        "Invalid request: Idempotency-Key must be 1 to 255 printable ASCII characters",
        "A malformed Idempotency-Key.",
    ),
    IdempotencyKeyReused: ErrorAnswer(
        422,
        "Invalid request: this Idempotency-Key was used with a different request body",
        "The key was used with another body.",
    ),
    IdempotencyKeyBusy: KEY_BUSY,
    HostUserWithoutId: UNEXPECTED,
}


def openapi_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """The documented error answers of an operation, for ``responses=``."""
    by_status: dict[int, ErrorAnswer] = {}
    for answer in [
        NOT_AUTHENTICATED,
        NOT_OWNER,
        KEY_BUSY,
        NOT_FOUND,
        INVALID,
        TOO_MANY_LIVE,
        LIVEKIT_FAILED,
        STORE_FAILED,
    ]:
        by_status.setdefault(answer.status, answer)
    documented: dict[int | str, dict[str, object]] = {
        status: {
            "model": ErrorBody,
            "description": by_status[status].description,
            "content": {"application/json": {"example": {"detail": by_status[status].detail}}},
        }
        for status in statuses
    }
    if 429 in documented:
        documented[429]["headers"] = {
            "Retry-After": {
                "description": "With the creation rate limit only: seconds until a start is allowed again.",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return documented


def openapi_error(status: int, detail: str, description: str) -> dict[str, object]:
    """One documented error answer, for an operation outside the session table."""
    return {
        "model": ErrorBody,
        "description": description,
        "content": {"application/json": {"example": {"detail": detail}}},
    }


def _answer(
    answer: ErrorAnswer, detail: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    if answer is NOT_AUTHENTICATED:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse({"detail": detail or answer.detail}, status_code=answer.status, headers=headers)


def refusal_response(answer: ErrorAnswer) -> JSONResponse:
    """An answer given before the request was read whole: the connection closes after it."""
    return JSONResponse({"detail": answer.detail}, status_code=answer.status, headers={"Connection": "close"})


def answer_body(answer: ErrorAnswer) -> bytes:
    """The JSON body of ``answer``, for answers written below the ASGI app."""
    return json.dumps({"detail": answer.detail}, separators=(",", ":")).encode()  # as Starlette writes it


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    answer = next(a for kind, a in ERROR_TABLE.items() if isinstance(exc, kind))
    if isinstance(exc, FieldNotAllowed):
        # Both parts are voicecore's own words, never the client's input.
        return _answer(answer, f"{answer.detail}: {exc.field} ({exc.reason})")
    if isinstance(exc, StoreError):
        logger.error(
            "session store call failed: %s",
            exc,
            exc_info=exc,
            extra=LogContext(operation=exc.operation, status_code=answer.status),
        )
    if isinstance(exc, GatewayError):
        context = LogContext(operation=exc.operation, status_code=answer.status)
        if exc.room_name:
            context["room_name"] = exc.room_name
        logger.error(
            "LiveKit call failed: %s; %s",
            exc,
            livekit_problem(exc).check,
            exc_info=exc,
            extra=context,
        )
    elif isinstance(exc, HostUserWithoutId):
        logger.error("%s", exc)
    detail_of = DETAIL_OF.get(type(exc))
    headers_of = HEADERS_OF.get(type(exc))
    return _answer(answer, detail_of(exc) if detail_of else None, headers_of(exc) if headers_of else None)


def _validation_problem(exc: RequestValidationError) -> JSONResponse:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return _answer(INVALID, "Invalid request: " + "; ".join(problems) if problems else None)


def _unreadable_body() -> JSONResponse:
    return _answer(INVALID, "Invalid request: body: not valid JSON")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _validation_problem(exc)


def log_unexpected(exc: Exception) -> None:
    logger.error("unexpected failure", exc_info=exc)


def unexpected_error_response() -> JSONResponse:
    return _answer(UNEXPECTED)


def install_error_handlers(app: FastAPI) -> None:
    """Map voicecore's own errors on ``app`` (a host's app, or the standalone one)."""
    for kind in ERROR_TABLE:
        app.add_exception_handler(kind, _domain_error)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    # FastAPI answers a body it fails to read (not UTF-8, nested past the parser's
    # recursion limit, ...) with its own 400, raised from the cause. To a client
    # that is malformed JSON like any other: the documented 422. No route of ours
    # raises a 400 itself.
    if exc.status_code == 400 and exc.__cause__ is not None:
        return _unreadable_body()
    return await http_exception_handler(request, exc)


class VoiceCoreRoute(APIRoute):
    """voicecore's routes answer an invalid request in the one ``{"detail": "..."}`` shape on any app.

    A host's app keeps its own request-validation handler for its own routes; on
    these, the 422 is the documented one, whatever that handler does.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_in_one_shape(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as exc:
                return _validation_problem(exc)
            except StarletteHTTPException as exc:
                if exc.status_code == 400 and exc.__cause__ is not None:  # see _http_error
                    return _unreadable_body()
                raise

        return handle_in_one_shape


def install_validation_handler(app: FastAPI) -> None:
    """The standalone service also answers 422 in the one ``{"detail": "..."}`` shape."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
