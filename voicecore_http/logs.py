"""stdlib logging for the service: plain or JSON lines, with request and session context.

Records carry context as ``extra`` fields (request_id, user_id, room_name, ...);
nothing here ever formats tokens, Authorization headers or secrets, because no
code path passes them to a logger.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Literal

from voicecore.core.log_context import LOG_CONTEXT_FIELDS
from voicecore_http.request_id import current_request_id


class RequestContextFilter(logging.Filter):
    """Stamps the current request id on every record (hosts may attach it too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id.get()
        return True


def _context(record: logging.LogRecord) -> dict[str, object]:
    return {
        name: getattr(record, name) for name in LOG_CONTEXT_FIELDS if getattr(record, name, None) is not None
    }


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{k}={v}" for k, v in _context(record).items())
        return f"{line} [{context}]" if context else line


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
        return json.dumps(entry, default=str)


def configure_logging(log_format: Literal["plain", "json"] = "plain", level: str = "INFO") -> None:
    """For the standalone service; a host keeps its own logging and may add the filter."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else PlainFormatter())
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
