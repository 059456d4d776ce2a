"""Bodies over HTTP_MAX_BODY_BYTES are refused with 413 before routing and authentication.

Against the real service (uvicorn, the real LiveKit server behind it) for what a
client sees on the wire; the counting rule itself is a property of the middleware.
"""

from __future__ import annotations

import asyncio
import itertools
import json

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.types import Message, Receive, Scope, Send

from tests.support.apps import check_error
from tests.support.constants import BASE, BODY_TOO_LARGE
from tests.support.leak_guard import LeakGuard
from tests.support.livekit import unique_user_id
from tests.support.service_process import (
    ServiceProcess,
    exchange,
    head_and_body,
    read_until_closed,
    status_of,
)
from tests.support.tokens import auth_header
from voicecore_http.limits import BodyLimitMiddleware
from voicecore_http.settings import HttpSettings

DEFAULT_LIMIT = HttpSettings.model_fields["http_max_body_bytes"].default


def post_head(path: str, *, length: int | None = None, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: voicecore.test", "Content-Type: application/json"]
    lines += [f"Content-Length: {length}"] if length is not None else ["Transfer-Encoding: chunked"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize("path", [BASE, "/nowhere", "/healthz"])
async def test_a_declared_length_over_the_limit_is_refused_before_a_byte_of_body(
    edge_service: ServiceProcess, path: str
) -> None:
    # Anonymous, and not one byte of the body sent: the answer cannot depend on it.
    response = await exchange(edge_service.port, post_head(path, length=100 * 1024 * 1024))
    head, body = head_and_body(response)
    assert status_of(response) == 413, response[:300]
    assert json.loads(body) == BODY_TOO_LARGE
    assert "connection: close" in head.lower()
    assert "x-request-id: " in head.lower()


async def test_a_chunked_body_is_counted_as_it_streams(edge_service: ServiceProcess) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", edge_service.port)
    try:
        writer.write(post_head(BASE))
        chunk = b" " * 1000
        for _ in range(DEFAULT_LIMIT // len(chunk) + 1):  # one chunk past the limit, never terminated
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()
        response = await asyncio.wait_for(read_until_closed(reader), 10)
    finally:
        writer.close()
    assert status_of(response) == 413, response[:300]
    assert json.loads(head_and_body(response)[1]) == BODY_TOO_LARGE


async def test_a_body_at_the_limit_is_served_and_one_byte_more_is_not(
    edge_service: ServiceProcess, log_leak_guard: LeakGuard
) -> None:
    user = unique_user_id("body")
    padded = json.dumps({"agent_type": "workout"}).encode()
    at_limit = padded[:-1] + b" " * (DEFAULT_LIMIT - len(padded)) + b"}"
    assert len(at_limit) == DEFAULT_LIMIT
    headers = {**auth_header(user), "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=edge_service.base_url) as client:
        created = await client.post(BASE, content=at_limit, headers=headers)
        assert created.status_code == 201, created.text
        refused = await client.post(BASE, content=at_limit + b" ", headers=headers)
        check_error(refused, BODY_TOO_LARGE, log_leak_guard)
        assert refused.status_code == 413
        ended = await client.delete(f"{BASE}/{created.json()['room_name']}", headers=headers)
        assert ended.status_code == 200


# --- the rule, for any body and any way of streaming it --------------------------


def _streamed(body: bytes, cuts: list[int]) -> list[Message]:
    bounds = sorted({0, len(body), *(c for c in cuts if 0 < c < len(body))})
    pieces = [body[a:b] for a, b in itertools.pairwise(bounds)] or [b""]
    return [
        {"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1}
        for i, piece in enumerate(pieces)
    ]


@given(
    size=st.integers(min_value=0, max_value=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=8),
    declared=st.booleans(),
    limit=st.integers(min_value=1, max_value=2500),
)
def test_the_app_gets_the_whole_body_iff_it_is_within_the_limit(
    size: int, cuts: list[int], declared: bool, limit: int
) -> None:
    body = bytes(i % 251 for i in range(size))
    messages = _streamed(body, cuts)
    seen: list[bytes] = []
    sent: list[Message] = []
    read = 0

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        seen.append(message["body"])
        assert message["more_body"] is False
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> Message:
        nonlocal read
        read += 1
        return messages[read - 1] if read <= len(messages) else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    headers = [(b"content-length", str(size).encode())] if declared else []
    scope: Scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    asyncio.run(BodyLimitMiddleware(app, max_body_bytes=limit)(scope, receive, send))

    if size <= limit:
        assert seen == [body]
        assert sent[0]["status"] == 204
    else:
        assert seen == []
        assert sent[0]["status"] == 413
        assert json.loads(sent[1]["body"]) == BODY_TOO_LARGE
        # With a declared length nothing is read; otherwise nothing past the chunk that crossed the limit.
        totals = itertools.accumulate(len(m["body"]) for m in messages)
        crossing = next(i for i, total in enumerate(totals, start=1) if total > limit)
        assert read == (0 if declared else crossing)
