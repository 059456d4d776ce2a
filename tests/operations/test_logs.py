"""The logs: each session event at INFO with its context, two formats, and no token or secret in any line."""

from __future__ import annotations

import json
import logging
import sys

import httpx
import pytest

from tests.support.constants import AUTH_SECRET, BASE, TEST_API_SECRET
from tests.support.tokens import auth_header
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore_http.logs import JsonFormatter, PlainFormatter, RequestContextFilter
from voicecore_http.request_id import current_request_id


def record(**extra: object) -> logging.LogRecord:
    entry = logging.LogRecord(
        "voicecore.sessions", logging.INFO, __file__, 1, "voice session created", None, None
    )
    for key, value in extra.items():
        setattr(entry, key, value)
    return entry


def test_json_lines_carry_message_level_and_context() -> None:
    token = current_request_id.set("req-1")
    try:
        entry = record(user_id="u1", room_name="fitness-voice-u1-0123456789abcdef", agent_type="diet")
        assert RequestContextFilter().filter(entry)
    finally:
        current_request_id.reset(token)
    line = json.loads(JsonFormatter().format(entry))
    assert line["message"] == "voice session created"
    assert line["level"] == "INFO"
    assert (line["request_id"], line["user_id"], line["agent_type"]) == ("req-1", "u1", "diet")
    assert line["time"].endswith("+00:00")


def test_plain_lines_append_context_and_leave_out_what_is_absent() -> None:
    text = PlainFormatter().format(record(user_id="u1", session_count=2))
    assert text.endswith("voice session created [user_id=u1 session_count=2]")
    assert "[" not in PlainFormatter().format(record())


def test_json_lines_include_the_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        entry = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = json.loads(JsonFormatter().format(entry))
    assert "ValueError: boom" in line["exception"]


async def test_session_events_are_logged_at_info_with_context_and_no_token(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    headers = {**auth_header("user-1", "u1@example.com"), "X-Request-ID": "req-log"}
    created = (await client.post(BASE, json={"agent_type": "tracker"}, headers=headers)).json()
    room = created["room_name"]
    await client.get(f"{BASE}/{room}", headers=headers)
    await client.get(BASE, headers=headers)
    await client.delete(f"{BASE}/{room}", headers=headers)

    events = {
        r.getMessage(): r
        for r in caplog.records
        if r.name in {"voicecore.core.live_sessions", "voicecore.core.creation"}
    }
    assert set(events) == {
        "voice session created",
        "voice session status queried",
        "voice sessions listed",
        "voice session ended",
    }
    for message, record in events.items():
        assert record.levelno == logging.INFO
        assert record.user_id == "user-1"  # type: ignore[attr-defined]
        if message != "voice sessions listed":
            assert (record.room_name, record.agent_type) == (room, "tracker")  # type: ignore[attr-defined]
    everything = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert created["token"] not in everything
    assert headers["Authorization"].split()[1] not in everything


async def test_formatted_log_lines_of_a_failing_session_hold_no_token_or_secret(
    client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    root = logging.getLogger()
    handlers = []
    for formatter in (JsonFormatter(), PlainFormatter()):
        handler = Collect(logging.DEBUG)
        handler.setFormatter(formatter)
        handler.addFilter(RequestContextFilter())
        handlers.append(handler)
        root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        headers = auth_header("user-1", "u1@example.com")
        created = (await client.post(BASE, json={}, headers=headers)).json()
        memory_gateway.fail("get_room", "list_participants", "list_rooms", "delete_room")
        await client.get(f"{BASE}/{created['room_name']}", headers=headers)
        await client.delete(f"{BASE}/{created['room_name']}", headers=headers)
        await client.get(BASE, headers=headers)
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(previous_level)
    text = "\n".join(lines)
    assert "LiveKit call failed" in text  # the failures were logged, with their tracebacks
    assert "Traceback" in text
    for secret in (created["token"], headers["Authorization"].split()[1], TEST_API_SECRET, AUTH_SECRET):
        assert secret not in text
