"""No client can forge a log line, send a terminal escape, or put a token in the access log.

X-Request-ID is echoed only when it is sane, and replaced by a fresh one otherwise.

The real service's own output is read (plain and JSON); the formatters' rule is
also checked for any text at all.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

import httpx
from hypothesis import given
from hypothesis import strategies as st

from tests.support.constants import BASE
from tests.support.livekit import unique_user_id
from tests.support.service_process import ServiceProcess, exchange, running_service, status_of
from tests.support.tokens import auth_header, bearer
from voicecore.testing.livekit_server import LocalLiveKitServer
from voicecore_http.logs import JsonFormatter, PlainFormatter

FORGED = "2026-01-01 00:00:00,000 ERROR voicecore: forged by a client"
# What starts each record's first line, and each continuation line of an exception.
_RECORD_START = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")
_CONTINUATION = "    "
_CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def check_one_record_per_line(log: str) -> None:
    for line in log.splitlines():
        assert _RECORD_START.match(line) or line.startswith(_CONTINUATION), repr(line)
    assert not _CONTROLS.search(log), "a control character reached the log"


async def test_a_token_in_the_query_string_never_reaches_the_access_log(edge_service: ServiceProcess) -> None:
    token = bearer(unique_user_id("query"))  # raw sockets: the test's own HTTP client would log the URL
    for method, path in [("GET", "/readyz"), ("GET", BASE), ("GET", "/nowhere"), ("POST", BASE)]:
        request = f"{method} {path}?access_token={token}&x=1 HTTP/1.1\r\nHost: voicecore.test\r\n"
        await exchange(edge_service.port, f"{request}Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
    log = edge_service.log_text()
    assert '"GET /readyz HTTP/1.1" 200' in log
    assert f'"POST {BASE} HTTP/1.1" 401' in log
    for secret_part in token.split(".")[1:]:
        assert secret_part not in log
    assert "access_token" not in log


async def someone_elses_session(base_url: str) -> tuple[str, dict[str, str]]:
    owner = auth_header(unique_user_id("owner"))
    async with httpx.AsyncClient(base_url=base_url) as client:
        created = await client.post(BASE, json={}, headers=owner)
    assert created.status_code == 201
    return f"{BASE}/{created.json()['room_name']}", owner


async def test_a_sub_with_a_newline_and_terminal_escapes_stays_on_its_line(
    edge_service: ServiceProcess,
) -> None:
    path, owner = await someone_elses_session(edge_service.base_url)
    forged_sub = f"{unique_user_id('forger')}\n{FORGED}\x1b[2J\r\u2028"
    async with httpx.AsyncClient(base_url=edge_service.base_url) as client:
        refused = await client.get(path, headers={"Authorization": f"Bearer {bearer(forged_sub)}"})
        assert refused.status_code == 403  # the refusal is logged with the caller's user_id
        await client.delete(path, headers=owner)
    log = edge_service.log_text()
    assert "forged by a client" in log
    assert not any(line.startswith(FORGED) for line in log.splitlines())
    check_one_record_per_line(log)


async def test_a_forwarded_address_with_c1_controls_is_escaped_in_the_access_log(
    edge_service: ServiceProcess,
) -> None:
    # uvicorn trusts X-Forwarded-For from 127.0.0.1 by default, and logs it as the client.
    request = (
        b"GET /healthz HTTP/1.1\r\nHost: voicecore.test\r\n"
        b"X-Forwarded-For: 203.0.113.9\xc2\x9b2J\xc2\x85ERROR forged by a client\r\n"
        b"Connection: close\r\n\r\n"
    )
    assert status_of(await exchange(edge_service.port, request)) == 200
    log = edge_service.log_text()
    assert "\\x9b2J" in log  # logged as the client, escaped
    check_one_record_per_line(log)


async def test_json_lines_carry_the_exact_value_and_are_one_line_each(
    livekit_server: LocalLiveKitServer, tmp_path: Path
) -> None:
    forged_sub = f"{unique_user_id('forger')}\n{FORGED}\x1b[2J"
    with running_service(tmp_path, livekit_server, LOG_FORMAT="json") as service:
        path, owner = await someone_elses_session(service.base_url)
        async with httpx.AsyncClient(base_url=service.base_url) as client:
            refused = await client.get(path, headers={"Authorization": f"Bearer {bearer(forged_sub)}"})
            await client.delete(path, headers=owner)
        assert refused.status_code == 403
        text = service.log_text()
    assert not _CONTROLS.search(text)
    entries = [json.loads(line) for line in text.splitlines()]
    assert forged_sub in [entry.get("user_id") for entry in entries]


# --- the formatters, for any text --------------------------------------------------

_ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=60)


def _record(message: str, argument: str, user_id: str, *, failing: bool) -> logging.LogRecord:
    exc_info = None
    if failing:
        try:
            raise ValueError(message)
        except ValueError:
            exc_info = sys.exc_info()
    record = logging.LogRecord(
        "voicecore.x", logging.ERROR, __file__, 1, "%s %s", (message, argument), exc_info
    )
    record.user_id = user_id
    return record


@given(message=_ANY_TEXT, argument=_ANY_TEXT, user_id=_ANY_TEXT, failing=st.booleans())
def test_a_plain_record_is_one_line_plus_indented_exception_lines(
    message: str, argument: str, user_id: str, failing: bool
) -> None:
    text = PlainFormatter().format(_record(message, argument, user_id, failing=failing))
    first, *rest = text.split("\n")
    assert _RECORD_START.match(first)
    assert all(line.startswith(_CONTINUATION) for line in rest)
    assert bool(rest) == failing
    assert not _CONTROLS.search(text)


@given(message=_ANY_TEXT, argument=_ANY_TEXT, user_id=_ANY_TEXT, failing=st.booleans())
def test_a_json_record_is_one_line_that_reads_back_exactly(
    message: str, argument: str, user_id: str, failing: bool
) -> None:
    text = JsonFormatter().format(_record(message, argument, user_id, failing=failing))
    assert "\n" not in text
    assert not _CONTROLS.search(text)
    entry = json.loads(text)
    assert (entry["message"], entry["user_id"]) == (f"{message} {argument}", user_id)


async def test_request_ids_are_echoed_or_made(client: httpx.AsyncClient) -> None:
    echoed = await client.get(BASE, headers={**auth_header("u"), "X-Request-ID": "req-123"})
    assert echoed.headers["X-Request-ID"] == "req-123"
    made = await client.get(BASE, headers=auth_header("u"))
    assert len(made.headers["X-Request-ID"]) == 32
    unauthenticated = await client.get(BASE, headers={"X-Request-ID": "req-456"})
    assert unauthenticated.headers["X-Request-ID"] == "req-456"
    hostile = await client.get(BASE, headers={**auth_header("u"), "X-Request-ID": "bad id\tinjected=1"})
    assert hostile.headers["X-Request-ID"] != "bad id\tinjected=1"
    missing_route = await client.get("/nowhere", headers={"X-Request-ID": "req-789"})
    assert (missing_route.status_code, missing_route.headers["X-Request-ID"]) == (404, "req-789")
