"""Slow, idle and half-sent requests are closed; past HTTP_MAX_CONCURRENCY the answer is 503.

Against the real service, with deadlines short enough to wait for (QUICK_* in tests/support). Each
client below is bounded: it gives up sending long after the deadline it tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.support.service_process import (
    QUICK_IDLE_SECONDS,
    QUICK_REQUEST_SECONDS,
    ServiceProcess,
    head_and_body,
    read_until_closed,
    running_service,
    status_of,
)
from voicecore.testing.livekit_server import LocalLiveKitServer

# The deadlines are the contract, so each close is held to its deadline plus this margin: what a
# loaded 2-core machine may run a timer late by. Nothing waits for it unless a test fails.
MARGIN = 8.0
# How long a misbehaving client keeps at it: far past any deadline and margin under test.
GIVE_UP_AFTER = 30.0


@contextlib.asynccontextmanager
async def connection(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def trickle(port: int, pieces: list[bytes], *, every: float) -> tuple[bytes, float, int]:
    """Send ``pieces`` one at a time, ``every`` seconds apart, until the server closes.

    Returns what the server answered, when (seconds after connecting) it closed, and
    how many pieces it had taken.
    """
    started = time.monotonic()
    async with connection(port) as (reader, writer):
        answer = asyncio.create_task(read_until_closed(reader))
        sent = 0
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            for piece in pieces:
                if answer.done() or time.monotonic() - started > GIVE_UP_AFTER:
                    break
                writer.write(piece)
                await writer.drain()
                sent += 1
                await asyncio.wait([answer], timeout=every)
        response = await asyncio.wait_for(answer, GIVE_UP_AFTER)
        return response, time.monotonic() - started, sent


SLOW_HEADERS = [b"GET /healthz HTTP/1.1\r\n"] + [b"X-Slow-%d: 1\r\n" % i for i in range(100)]


async def test_a_connection_that_never_sends_a_request_is_closed_after_the_idle_timeout(
    quick_deadline_service: ServiceProcess,
) -> None:
    response, closed_after, _ = await trickle(quick_deadline_service.port, [], every=0)
    assert response == b""
    assert QUICK_IDLE_SECONDS * 0.9 <= closed_after <= QUICK_IDLE_SECONDS + MARGIN


async def test_a_header_line_every_half_second_is_answered_408_at_the_request_deadline(
    quick_deadline_service: ServiceProcess,
) -> None:
    response, closed_after, sent = await trickle(quick_deadline_service.port, SLOW_HEADERS, every=0.5)
    assert status_of(response) == 408, response[:200]
    assert json.loads(head_and_body(response)[1]) == {"detail": "Request timeout"}
    assert QUICK_REQUEST_SECONDS * 0.9 <= closed_after <= QUICK_REQUEST_SECONDS + MARGIN
    assert sent < len(SLOW_HEADERS)


async def test_a_partial_request_line_is_answered_408(quick_deadline_service: ServiceProcess) -> None:
    response, closed_after, _ = await trickle(quick_deadline_service.port, [b"GET /heal"], every=0)
    assert status_of(response) == 408
    assert closed_after <= QUICK_REQUEST_SECONDS + MARGIN


async def test_blank_lines_that_begin_no_request_do_not_keep_a_connection(
    quick_deadline_service: ServiceProcess,
) -> None:
    response, closed_after, _ = await trickle(quick_deadline_service.port, [b"\r\n"] * 100, every=0.3)
    assert status_of(response) in {0, 408}
    assert closed_after <= max(QUICK_IDLE_SECONDS, QUICK_REQUEST_SECONDS) + MARGIN


async def test_a_body_sent_a_byte_at_a_time_is_cut_off_at_the_request_deadline(
    quick_deadline_service: ServiceProcess,
) -> None:
    head = b"POST /api/v1/voice-sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    pieces = [head] + [b" "] * 100
    response, closed_after, sent = await trickle(quick_deadline_service.port, pieces, every=0.3)
    assert response == b""  # the app never saw the request whole: nothing to answer
    assert closed_after <= QUICK_REQUEST_SECONDS + MARGIN
    assert sent < 101


async def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(
    quick_deadline_service: ServiceProcess,
) -> None:
    async with connection(quick_deadline_service.port) as (reader, writer):
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        answered = await reader.readuntil(b'{"status":"ok"}')
        started = time.monotonic()
        rest = await asyncio.wait_for(read_until_closed(reader), GIVE_UP_AFTER)
        closed_after = time.monotonic() - started
    assert status_of(answered) == 200
    assert rest == b""
    assert QUICK_IDLE_SECONDS * 0.9 <= closed_after <= QUICK_IDLE_SECONDS + MARGIN


async def test_a_request_sent_in_pieces_within_the_deadline_is_served(
    quick_deadline_service: ServiceProcess,
) -> None:
    pieces = [b"GET /heal", b"thz HTTP/1.1\r\nHost: x\r\n", b"Connection: close\r\n\r\n"]
    response, _, sent = await trickle(quick_deadline_service.port, pieces, every=0.4)
    assert (status_of(response), sent) == (200, 3)


async def test_a_hundred_slow_clients_are_all_dropped_and_others_are_served_meanwhile(
    quick_deadline_service: ServiceProcess,
) -> None:
    slow = [
        asyncio.create_task(trickle(quick_deadline_service.port, SLOW_HEADERS, every=0.5)) for _ in range(100)
    ]
    async with httpx.AsyncClient(base_url=quick_deadline_service.base_url) as client:
        served = [(await client.get("/healthz")).status_code for _ in range(5)]
    results = await asyncio.gather(*slow)
    assert served == [200] * 5
    assert all(status_of(response) == 408 for response, _, _ in results)
    assert max(closed_after for _, closed_after, _ in results) <= QUICK_REQUEST_SECONDS + MARGIN


async def test_past_the_concurrency_limit_the_answer_is_503_and_then_service_resumes(
    livekit_server: LocalLiveKitServer, tmp_path: Path
) -> None:
    limit = 4
    with running_service(tmp_path, livekit_server, HTTP_MAX_CONCURRENCY=str(limit)) as service:
        async with contextlib.AsyncExitStack() as held:
            for _ in range(limit - 1):  # with the next one, `limit` connections are open
                _, writer = await held.enter_async_context(connection(service.port))
                writer.write(b"GET /healthz HTTP/1.1\r\n")  # a request begun, never finished
                await writer.drain()
            async with httpx.AsyncClient(base_url=service.base_url) as client:
                refused = await client.get("/healthz")
        assert refused.status_code == 503
        async with httpx.AsyncClient(base_url=service.base_url) as client:
            assert (await client.get("/healthz")).status_code == 200
