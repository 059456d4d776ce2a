"""uvicorn's httptools protocol, plus what it lacks: deadlines for a request to arrive, and a bounded head.

uvicorn closes a connection left idle after a response (``timeout_keep_alive``),
but arms nothing for a connection that never sends a request, and every byte
received cancels that timer: a client sending a header line every few seconds
keeps a connection, and its buffers, for ever. Nor does the httptools protocol
bound the request line and headers (``h11_max_incomplete_event_size`` is h11's
alone). So, per connection:

- waiting for a request (just connected, or after a response): closed after the
  idle timeout, whatever bytes that begin no request (blank lines) arrive;
- from a request's first byte until it has arrived whole, head and body: the
  request timeout; a late head is answered 408, a late body closes the connection;
- while the app answers: no deadline (LiveKit calls carry their own);
- the request line and headers over ``max_head_bytes``, or more than
  ``max_headers`` headers: 431, before the app sees the request. Bytes are counted
  as they arrive, so an endless header line is refused without being buffered.

The answers come from the one error table (voicecore_http.error_table).
"""

from __future__ import annotations

import asyncio
import http
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from voicecore_http.edge_answers import answer_body
from voicecore_http.error_table import HEAD_TOO_LARGE, REQUEST_TIMEOUT, ErrorAnswer

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    idle_timeout_seconds: float
    request_timeout_seconds: float
    max_head_bytes: int
    max_headers: int


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing; the answer is in ``_refusal``."""


# Each header line's ": " and CRLF, counted with its name and value.
_HEADER_LINE_OVERHEAD = 4


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    limits: ClassVar[ConnectionLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._reading = False  # a request has begun and not yet arrived whole
        self._head_complete = False
        self._head_bytes = 0  # received while the head was incomplete
        self._head_size = 0  # request line and headers, as parsed
        self._headers_seen = 0
        self._refusal: ErrorAnswer | None = None

    # --- the connection --------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.idle_timeout_seconds)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._head_complete:
            self._head_bytes += len(data)
        super().data_received(data)
        if (
            not self._head_complete
            and self._head_bytes > self.limits.max_head_bytes
            and not self.transport.is_closing()
        ):
            self._refuse(HEAD_TOO_LARGE)

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers every parser error with 400; ours carry their own answer.
        if self._refusal is not None:
            self._refuse(self._refusal)
        else:
            super().send_400_response(msg)

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)
        super().on_response_complete()
        if not (self.transport.is_closing() or self._reading or pipelined):
            self._arm(self.limits.idle_timeout_seconds)

    # --- parser callbacks ------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading = True
        self._head_size = 0
        self._headers_seen = 0
        self._arm(self.limits.request_timeout_seconds)

    def on_url(self, url: bytes) -> None:
        self._grow_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers_seen += 1
        self._grow_head(len(name) + len(value) + _HEADER_LINE_OVERHEAD)
        if self._headers_seen > self.limits.max_headers:
            self._stop_parsing(HEAD_TOO_LARGE)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_complete = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading = False
        self._head_complete = False
        self._head_bytes = 0
        self._disarm()

    # --- limits ----------------------------------------------------------------

    def _grow_head(self, size: int) -> None:
        self._head_size += size
        if self._head_size > self.limits.max_head_bytes:
            self._stop_parsing(HEAD_TOO_LARGE)

    def _stop_parsing(self, answer: ErrorAnswer) -> None:
        self._refusal = answer
        raise _Refused(answer.detail)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._deadline_passed)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._reading and not self._head_complete:
            self._refuse(REQUEST_TIMEOUT)
            return
        if self._reading:
            logger.info(
                "closed a connection: its request body did not arrive within %ss",
                self.limits.request_timeout_seconds,
            )
        # Idle, or a late body: the app, if it is waiting for the body, sees a disconnect.
        self.transport.close()

    def _refuse(self, answer: ErrorAnswer) -> None:
        """Answer below the app and close: the request was never handed to it."""
        self._disarm()
        logger.info("answered %s before reading the request: %s", answer.status, answer.detail)
        body = answer_body(answer)
        status = http.HTTPStatus(answer.status)
        lines = [f"HTTP/1.1 {status.value} {status.phrase}".encode()]
        lines += [name + b": " + value for name, value in self.server_state.default_headers]
        lines += [
            b"content-type: application/json",
            b"content-length: " + str(len(body)).encode(),
            b"connection: close",
        ]
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        self.transport.close()


def limited_http_protocol(limits: ConnectionLimits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection, carrying ``limits``."""

    class Limited(LimitedHttpToolsProtocol):
        pass

    Limited.limits = limits
    return Limited
