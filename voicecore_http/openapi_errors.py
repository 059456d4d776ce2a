"""The error answers in the OpenAPI document, drawn from the error table: its details and descriptions."""

from __future__ import annotations

from voicecore_http.error_table import (
    BODY_TOO_LARGE,
    INVALID,
    KEY_BUSY,
    LIVEKIT_FAILED,
    NOT_AUTHENTICATED,
    NOT_FOUND,
    NOT_OWNER,
    STORE_FAILED,
    STORE_REBUILDING,
    TOO_MANY_LIVE,
    USAGE_EXHAUSTED,
    ErrorAnswer,
)
from voicecore_http.schemas import ErrorBody

# The answer the session endpoints show for each status: the one a client meets most.
_SESSION_ANSWERS: dict[int, ErrorAnswer] = {
    answer.status: answer
    for answer in (
        NOT_AUTHENTICATED,
        NOT_OWNER,
        KEY_BUSY,
        NOT_FOUND,
        INVALID,
        TOO_MANY_LIVE,
        USAGE_EXHAUSTED,
        BODY_TOO_LARGE,  # an operation with a body: refused at the edge, before routing
        LIVEKIT_FAILED,
        STORE_FAILED,
    )
}


def openapi_error(answer: ErrorAnswer) -> dict[str, object]:
    """One documented error answer, for ``responses=``."""
    return {
        "model": ErrorBody,
        "description": answer.description,
        "content": {"application/json": {"example": {"detail": answer.detail}}},
    }


def openapi_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """The documented error answers of a session operation, for ``responses=``."""
    documented: dict[int | str, dict[str, object]] = {
        status: openapi_error(_SESSION_ANSWERS[status]) for status in statuses
    }
    if 402 in documented:
        documented[402]["headers"] = {
            "Retry-After": {
                "description": "Seconds until the period resets and the allowance with it.",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    if 429 in documented:
        documented[429]["headers"] = {
            "Retry-After": {
                "description": "With the creation rate limit only: seconds until a start is allowed again.",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return documented


def openapi_start_unavailable() -> dict[int | str, dict[str, object]]:
    """A start's 503: the store failed, or its index is being rebuilt after a loss (with Retry-After)."""
    documented = openapi_error(STORE_FAILED)
    documented["description"] = f"{STORE_FAILED.description} Or: {STORE_REBUILDING.description}"
    documented["headers"] = {
        "Retry-After": {
            "description": "While the session index is being rebuilt only: seconds until a start is "
            "likely admitted again.",
            "schema": {"type": "integer", "minimum": 1},
        }
    }
    return {503: documented}
