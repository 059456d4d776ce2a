"""X-Request-ID: echoed when the client sends a sane one, made up otherwise, on every answer."""

from __future__ import annotations

import contextvars
import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request_id.reset(token)
