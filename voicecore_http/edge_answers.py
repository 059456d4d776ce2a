"""Answers given outside the app's exception handlers: refusals before routing, and the last-resort 500.

The body limit (voicecore_http.limits) refuses before routing, the protocol
(voicecore_http.protocol) below the ASGI app, and the request-id middleware
(voicecore_http.request_id) answers whatever no handler did. Each answers from
the error table, in its one body shape.
"""

from __future__ import annotations

import logging

from fastapi.responses import JSONResponse

from voicecore_http.error_table import UNEXPECTED, ErrorAnswer

logger = logging.getLogger(__name__)


def refusal_response(answer: ErrorAnswer) -> JSONResponse:
    """An answer given before the request was read whole: the connection closes after it."""
    return answer.response(headers={"Connection": "close"})


def answer_body(answer: ErrorAnswer) -> bytes:
    """The JSON body of ``answer``, for answers written below the ASGI app."""
    return bytes(answer.response().body)


def log_unexpected(exc: Exception) -> None:
    logger.error("unexpected failure", exc_info=exc)


def unexpected_error_response() -> JSONResponse:
    return UNEXPECTED.response()
