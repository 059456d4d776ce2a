"""The two log formats carry the context fields; the request id comes from the middleware."""

from __future__ import annotations

import json
import logging
import sys

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
