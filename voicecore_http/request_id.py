"""X-Request-ID on every answer (echoed when sane, made up otherwise), and the last-resort 500.

The last resort lives here, inside the request context, because Starlette's own
catch-all runs outside every user middleware: its answers would lose the request
id, and it re-raises so the server logs the failure a second time.
"""

from __future__ import annotations

import contextvars
import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voicecore_http.edge_answers import log_unexpected, unexpected_error_response

HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # never let a client inject into logs

current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "voicecore_request_id", default=None
)


class RequestIdMiddleware:
    """Plain ASGI middleware: cheaper than BaseHTTPMiddleware on every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode("latin-1")
        request_id = sent if _SANE.fullmatch(sent) else uuid.uuid4().hex
        token = current_request_id.set(request_id)

        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # the last resort: anything no handler answered
            log_unexpected(exc)
            if response_started:
                raise  # too late for an answer; the server closes the connection
            await unexpected_error_response()(scope, receive, send_with_id)
        finally:
            current_request_id.reset(token)
