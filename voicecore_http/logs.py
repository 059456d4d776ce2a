"""stdlib logging for the service: plain or JSON lines, with request and session context.

Records carry context as ``extra`` fields (request_id, user_id, room_name, ...);
nothing here ever formats tokens, Authorization headers or secrets, because no
code path passes them to a logger, and the access log is written without the
query string (where a client may put a token).

A client influences some of what is logged (a token's ``sub`` becomes user_id, a
path, a header). In the plain format every control character of a record is
escaped and an exception's lines are indented, so one record is one line that
starts with a timestamp, and no client can forge another or send a terminal
escape sequence. JSON escapes control characters by itself.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Literal

from voicecore.core.log_context import LOG_CONTEXT_FIELDS
from voicecore_http.request_id import current_request_id

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]
_ESCAPES = {code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" for code in _CONTROLS}
_ESCAPES |= {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}
_EXCEPTION_ESCAPES = {code: text for code, text in _ESCAPES.items() if code != ord("\n")}


def escape_controls(text: str) -> str:
    """``text`` on one line, every control character written out as an escape."""
    return text.translate(_ESCAPES)


class RequestContextFilter(logging.Filter):
    """Stamps the current request id on every record (hosts may attach it too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id.get()
        return True


class AccessLogWithoutQuery(logging.Filter):
    """uvicorn's access log, with each path's query string left out.

    uvicorn logs ``'%s - "%s %s HTTP/%s" %d'`` with the path and its query; a
    client may send a token as ``?access_token=...``. Installed on the
    ``uvicorn.access`` logger itself, so every handler sees the trimmed record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                arg.partition("?")[0] if isinstance(arg, str) and "?" in arg else arg for arg in record.args
            )
        return True


def _context(record: logging.LogRecord) -> dict[str, object]:
    return {
        name: getattr(record, name) for name in LOG_CONTEXT_FIELDS if getattr(record, name, None) is not None
    }


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        # logging.Formatter.format, with every client-influenced part escaped.
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        line = escape_controls(self.formatMessage(record))
        context = " ".join(f"{k}={escape_controls(str(v))}" for k, v in _context(record).items())
        if context:
            line = f"{line} [{context}]"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        for extra in (record.exc_text, record.stack_info and self.formatStack(record.stack_info)):
            if extra:
                line += "".join(f"\n    {part.translate(_EXCEPTION_ESCAPES)}" for part in extra.splitlines())
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # ensure_ascii (the default) writes every control and non-ASCII character as an escape.
        return json.dumps(entry, default=str)


def configure_logging(log_format: Literal["plain", "json"] = "plain", level: str = "INFO") -> None:
    """For the standalone service; a host keeps its own logging and may add the filters."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else PlainFormatter())
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLogWithoutQuery) for f in access.filters):
        access.addFilter(AccessLogWithoutQuery())
