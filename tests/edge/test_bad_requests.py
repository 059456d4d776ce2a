"""What an anonymous or hostile client sends, byte for byte, and what the real service answers.

docs/reliability.md ("The edge") lists each attack with its expected answer and its test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re

import httpx
import pytest

from tests.support.constants import BASE
from tests.support.service_process import (
    ServiceProcess,
    exchange,
    head_and_body,
    raw_get,
    read_until_closed,
    status_of,
)
from voicecore_http.settings import HttpSettings

MAX_HEADER_BYTES = HttpSettings.model_fields["http_max_header_bytes"].default
MAX_HEADERS = HttpSettings.model_fields["http_max_headers"].default
TOO_LARGE_HEAD = {"detail": "Request header fields too large"}
FRESH_ID = re.compile(r"x-request-id: ([0-9a-f]{32})\r?$", re.IGNORECASE | re.MULTILINE)


# --- sizes -----------------------------------------------------------------------


async def test_a_one_megabyte_header_is_refused_431(edge_service: ServiceProcess) -> None:
    response = await exchange(edge_service.port, raw_get("/healthz", "X-Big: " + "a" * 1024 * 1024))
    assert status_of(response) == 431
    assert json.loads(head_and_body(response)[1]) == TOO_LARGE_HEAD


async def test_an_endless_header_line_is_refused_before_it_ends(edge_service: ServiceProcess) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", edge_service.port)
    answer = asyncio.create_task(read_until_closed(reader))
    sent = 0
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: voicecore.test\r\nX-Endless: ")
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            while not answer.done() and sent < 64 * MAX_HEADER_BYTES:
                writer.write(b"a" * 1024)
                await writer.drain()
                sent += 1024
                await asyncio.wait([answer], timeout=0.01)
        response = await asyncio.wait_for(answer, 10)
    finally:
        writer.close()
    assert status_of(response) == 431
    assert sent < 16 * MAX_HEADER_BYTES  # refused while the line was still being sent


async def test_more_headers_than_allowed_are_refused_431(edge_service: ServiceProcess) -> None:
    headers = [f"X-Many-{i}: 1" for i in range(MAX_HEADERS + 1)]
    response = await exchange(edge_service.port, raw_get("/healthz", *headers))
    assert status_of(response) == 431


async def test_a_long_request_line_counts_towards_the_head(edge_service: ServiceProcess) -> None:
    response = await exchange(edge_service.port, raw_get("/healthz?" + "q" * MAX_HEADER_BYTES))
    assert status_of(response) == 431


async def test_a_large_but_allowed_head_is_served(edge_service: ServiceProcess) -> None:
    headers = [f"X-Some-{i}: " + "v" * 100 for i in range(MAX_HEADERS - 10)]
    assert sum(len(h) for h in headers) < MAX_HEADER_BYTES - 1024
    response = await exchange(edge_service.port, raw_get("/healthz", *headers))
    assert status_of(response) == 200


# --- framing ---------------------------------------------------------------------


async def test_content_length_with_transfer_encoding_is_refused_and_nothing_is_smuggled(
    edge_service: ServiceProcess,
) -> None:
    smuggled = b"GET /readyz HTTP/1.1\r\nHost: voicecore.test\r\n\r\n"
    request = (
        f"POST {BASE} HTTP/1.1\r\nHost: voicecore.test\r\nContent-Length: 4\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ).encode() + smuggled
    response = await exchange(edge_service.port, request)
    assert status_of(response) == 400
    assert response.count(b"HTTP/1.1 ") == 1  # one answer: the smuggled request was never read


@pytest.mark.parametrize(
    "header",
    [b"X-Request-ID: abc\rX-Forged: 1", b"X-Request-ID: abc\nX-Forged: 1", b"X-Request-ID: abc\x1b[31m"],
    ids=["bare CR", "bare LF", "ANSI escape"],
)
async def test_control_characters_in_a_header_are_refused_by_the_parser(
    edge_service: ServiceProcess, header: bytes
) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: voicecore.test\r\n" + header + b"\r\n\r\n"
    response = await exchange(edge_service.port, request)
    assert status_of(response) == 400
    assert b"X-Forged" not in response


@pytest.mark.parametrize("sent", ["abc%0d%0aX-Forged:%201", "abc\\r\\nX-Forged: 1", "a" * 129, "caf\u00e9"])
async def test_an_x_request_id_that_is_not_sane_is_replaced_by_a_fresh_one(
    edge_service: ServiceProcess, sent: str
) -> None:
    raw = b"GET /healthz HTTP/1.1\r\nHost: voicecore.test\r\nX-Request-ID: " + sent.encode("utf-8")
    response = await exchange(edge_service.port, raw + b"\r\nConnection: close\r\n\r\n")
    head, _ = head_and_body(response)
    assert status_of(response) == 200
    assert FRESH_ID.search(head), head
    assert "X-Forged" not in head


# --- methods ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"), [("HEAD", "/healthz"), ("HEAD", BASE), ("OPTIONS", BASE), ("OPTIONS", "/readyz")]
)
async def test_head_and_options_are_405_and_reveal_nothing(
    edge_service: ServiceProcess, method: str, path: str
) -> None:
    async with httpx.AsyncClient(base_url=edge_service.base_url) as client:
        response = await client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"]
    if method == "HEAD":
        assert response.content == b""
    else:
        assert response.json() == {"detail": "Method Not Allowed"}


# --- Host ------------------------------------------------------------------------


@pytest.mark.parametrize("path", [f"{BASE}/", f"{BASE}/fitness-voice-42-0123456789abcdef/", "/healthz/"])
async def test_no_answer_is_built_from_the_host_header(edge_service: ServiceProcess, path: str) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n".encode()
    response = await exchange(edge_service.port, request)
    head, body = head_and_body(response)
    assert status_of(response) == 404
    assert "location:" not in head.lower()
    assert b"evil.example" not in response
    assert json.loads(body) == {"detail": "Not Found"}
