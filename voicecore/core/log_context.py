"""The context fields voicecore puts on log records, defined once.

Pass them as ``extra=LogContext(...)``: mypy then checks every key, and the
service's formatters (``voicecore_http.logs``) write exactly these fields.
"""

from __future__ import annotations

from typing import Final, TypedDict


class LogContext(TypedDict, total=False):
    request_id: str
    user_id: str
    room_name: str
    agent_type: str
    participant_count: int
    agent_connected: bool
    agent_dispatched: bool
    agent_state: str
    session_count: int
    operation: str
    status_code: int
    dispatch_id: str
    event_id: str  # an app event's (its webhook-id)
    event_type: str


LOG_CONTEXT_FIELDS: Final = tuple(LogContext.__annotations__)
