"""The one place that turns errors into HTTP answers, all shaped ``{"detail": "..."}``.

Details are fixed, generic sentences: never an exception's text, a URL, a token
or a stack trace. LiveKit failures are logged here at ERROR with their cause.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from voicecore.core.errors import (
    FieldNotAllowed,
    GatewayError,
    InvalidUserId,
    NotSessionOwner,
    SessionNotFound,
    UnknownAgentType,
)
from voicecore.core.log_context import LogContext
from voicecore_http.auth import NotAuthenticated
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
UNEXPECTED = ErrorAnswer(500, "Internal server error", "An unexpected failure.")

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
}


def openapi_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """The documented error answers of an operation, for ``responses=``."""
    by_status: dict[int, ErrorAnswer] = {}
    for answer in [NOT_AUTHENTICATED, NOT_OWNER, NOT_FOUND, INVALID, LIVEKIT_FAILED]:
        by_status.setdefault(answer.status, answer)
    return {
        status: {
            "model": ErrorBody,
            "description": by_status[status].description,
            "content": {"application/json": {"example": {"detail": by_status[status].detail}}},
        }
        for status in statuses
    }


def _answer(answer: ErrorAnswer, detail: str | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if answer.status == 401 else None
    return JSONResponse({"detail": detail or answer.detail}, status_code=answer.status, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    answer = next(a for kind, a in ERROR_TABLE.items() if isinstance(exc, kind))
    if isinstance(exc, FieldNotAllowed):
        # Both parts are voicecore's own words, never the client's input.
        return _answer(answer, f"{answer.detail}: {exc.field} ({exc.reason})")
    if isinstance(exc, GatewayError):
        context = LogContext(operation=exc.operation, status_code=answer.status)
        if exc.room_name:
            context["room_name"] = exc.room_name
        logger.error(
            "LiveKit call failed: %s",
            exc,
            exc_info=exc,
            extra=context,
        )
    return _answer(answer)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return _answer(INVALID, "Invalid request: " + "; ".join(problems) if problems else None)


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
        return _answer(INVALID, "Invalid request: body: not valid JSON")
    return await http_exception_handler(request, exc)


def install_validation_handler(app: FastAPI) -> None:
    """The standalone service also answers 422 in the one ``{"detail": "..."}`` shape."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
