"""The body limit: a request body larger than the limit is refused with 413 before routing.

Pure ASGI, outermost in the app but inside the request id. A declared
Content-Length over the limit is refused before a byte of the body is read; any
other body (chunked, or without a length) is read here, counted as it streams,
and refused as soon as it passes the limit. So FastAPI, which reads and parses a
body before it resolves the dependencies that authenticate, never holds more than
the limit of any anonymous client's upload. uvicorn has no body limit of its own.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voicecore_http.edge_answers import refusal_response
from voicecore_http.error_table import BODY_TOO_LARGE


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP parser refuses these; counted below all the same
    return None


class BodyLimitMiddleware:
    """Refuse a body over ``max_body_bytes``; hand the app the body already read, once."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await refusal_response(BODY_TOO_LARGE)(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more_body = True
        while more_body:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client is gone: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await refusal_response(BODY_TOO_LARGE)(scope, receive, send)
                return
            chunks.append(chunk)
            more_body = message.get("more_body", False)

        body: Message | None = {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        async def receive_read_body() -> Message:
            nonlocal body
            if body is not None:
                message, body = body, None
                return message
            return await receive()

        await self.app(scope, receive_read_body, send)
