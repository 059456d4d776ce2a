"""A fault-injecting TCP proxy on 127.0.0.1, in front of a LiveKit server's HTTP port.

It reads each HTTP/1.1 request (head and Content-Length body) from the client, so
every fault is decided per request, by Twirp method:

- ``PASS``:  forward, answer as the server does;
- ``SLOW``:  forward at once (the server acts on it) but hold the answer ``delay`` seconds;
- ``HANG``:  accept and read, never answer, never forward;
- ``DROP``:  read the request, then close the connection (FIN) without a word;
- ``RESET``: read the request, then reset the connection (RST);
- ``ERROR_500``: answer a Twirp-shaped ``500 {"code": "internal", ...}`` itself;
- ``ERROR_503``: answer a load balancer's plain-text ``503`` itself.

``only`` limits the fault to some Twirp methods (``{"CreateRoom"}``); every other
request passes. ``seen`` records (method, fault) for each request, and
``room_names`` the voicecore room names found in each forwarded request body.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
from dataclasses import dataclass, field
from enum import StrEnum


class Fault(StrEnum):
    PASS = "pass"
    SLOW = "slow"
    HANG = "hang"
    DROP = "drop"
    RESET = "reset"
    ERROR_500 = "error 500"
    ERROR_503 = "error 503"


_REQUEST_LINE = re.compile(rb"^(?P<verb>[A-Z]+) (?P<path>\S+) HTTP/1\.[01]\r\n")
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)\s*\r\n", re.IGNORECASE)
_ROOM_NAME = re.compile(rb"fitness-voice-[A-Za-z0-9._~-]+-[0-9a-f]{16}")

_TWIRP_500 = b'{"code":"internal","msg":"injected fault"}'
_LB_503 = b"upstream unavailable\n"


def _answer(status: bytes, content_type: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\nContent-Type: "
        + content_type
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n"
        + body
    )


@dataclass
class _Connection:
    delay: float = 0.0  # applies to the next answer from upstream


@dataclass
class FaultProxy:
    upstream_port: int
    fault: Fault = Fault.PASS
    delay: float = 3.0
    only: frozenset[str] | None = None
    seen: list[tuple[str, Fault]] = field(default_factory=list)
    room_names: list[tuple[str, str]] = field(default_factory=list)  # (method, room) forwarded
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def set(self, fault: Fault, *, only: frozenset[str] | None = None, delay: float | None = None) -> None:
        self.fault, self.only = fault, only
        if delay is not None:
            self.delay = delay

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        # Bounded: a connection accepted just before close() gets its handler a tick later.
        for _ in range(10):
            if not self._tasks:
                break
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # --- one client connection ------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream: asyncio.StreamWriter | None = None
        pump: asyncio.Task[None] | None = None
        state = _Connection()
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                method = _twirp_method(request)
                fault = self.fault if self.only is None or method in self.only else Fault.PASS
                self.seen.append((method, fault))
                if fault is Fault.HANG:
                    await reader.read()  # until the client gives up
                    return
                if fault is Fault.DROP:
                    return
                if fault is Fault.RESET:
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if fault in (Fault.ERROR_500, Fault.ERROR_503):
                    writer.write(
                        _answer(b"500 Internal Server Error", b"application/json", _TWIRP_500)
                        if fault is Fault.ERROR_500
                        else _answer(b"503 Service Unavailable", b"text/plain", _LB_503)
                    )
                    await writer.drain()
                    return
                if upstream is None:
                    upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", self.upstream_port)
                    pump = asyncio.create_task(self._pump(upstream_reader, writer, state))
                state.delay = self.delay if fault is Fault.SLOW else 0.0
                self.room_names += [(method, m.decode()) for m in _ROOM_NAME.findall(request)]
                upstream.write(request)
                await upstream.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        finally:
            # Close first, synchronously: a cancel during the waits below must not leave
            # a transport open.
            streams = [stream for stream in (upstream, writer) if stream is not None]
            for stream in streams:
                stream.close()
            if pump is not None:
                pump.cancel()
            self._tasks.discard(task)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(
                    *(stream.wait_closed() for stream in streams),
                    *([pump] if pump is not None else []),
                    return_exceptions=True,
                )

    @staticmethod
    async def _pump(upstream: asyncio.StreamReader, client: asyncio.StreamWriter, state: _Connection) -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await upstream.read(65536):
                if state.delay:
                    delay, state.delay = state.delay, 0.0
                    await asyncio.sleep(delay)
                client.write(chunk)
                await client.drain()
        client.close()


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return None
    match = _CONTENT_LENGTH.search(head)
    body = await reader.readexactly(int(match.group(1))) if match else b""
    return head + body


def _twirp_method(request: bytes) -> str:
    match = _REQUEST_LINE.match(request)
    if match is None:
        return "?"
    return match.group("path").decode(errors="replace").rsplit("/", 1)[-1]
