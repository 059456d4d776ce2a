"""voicecore's own errors, raised by its routes, answered from the error table on any app.

LiveKit and store failures are logged here at ERROR with their cause: the answer
itself says only that the service is unavailable.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from voicecore.core.errors import GatewayError, JournalSchemaOutdated, JournalUnavailable, StoreError
from voicecore.core.log_context import LogContext
from voicecore_http.auth import HostUserAllowanceUnreadable, HostUserWithoutId
from voicecore_http.error_table import ERROR_TABLE, ErrorAnswer, answer_for
from voicecore_http.livekit_problems import livekit_problem

logger = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    """Map voicecore's own errors on ``app`` (a host's app, or the standalone one)."""
    for kind in ERROR_TABLE:
        app.add_exception_handler(kind, _domain_error)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    answer = answer_for(exc)
    _log_failure(exc, answer)
    return answer.response_to(exc)


def _log_failure(exc: Exception, answer: ErrorAnswer) -> None:
    """The cause of a server-side failure, for the operator; a client's mistake is not logged."""
    if isinstance(exc, StoreError | JournalUnavailable):
        what = "session store" if isinstance(exc, StoreError) else "session journal"
        logger.error(
            "%s call failed: %s",
            what,
            exc,
            exc_info=exc,
            extra=LogContext(operation=exc.operation, status_code=answer.status),
        )
    elif isinstance(exc, JournalSchemaOutdated):
        logger.error("%s", exc)
    elif isinstance(exc, GatewayError):
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
    elif isinstance(exc, HostUserWithoutId | HostUserAllowanceUnreadable):
        logger.error("%s", exc)
