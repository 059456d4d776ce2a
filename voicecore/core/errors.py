"""The errors voicecore's core raises; adapters translate their own into these.

    VoiceCoreError
    ├── InvalidUserId         the user id cannot make a room name
    ├── UnknownAgentType      an agent type that does not exist
    ├── MetadataNotReadable   room metadata is not voicecore's (decode only)
    ├── SessionNotFound       no such session (missing, not ours, or not a name we make)
    ├── NotSessionOwner       the session exists and belongs to someone else
    ├── FieldNotAllowed       a request set a field the caller may not set
    ├── GatewayError          the room service failed; carries operation and room
    ├── StoreError            the session store failed; carries the operation
    └── WrongEventLoop        a client opened in one event loop was used from another

Messages never carry secrets, tokens or lower-level exception text: the HTTP
layer may show a message to a client, and logs get the cause via ``__cause__``.
"""

from __future__ import annotations


class VoiceCoreError(Exception):
    """Base of every error voicecore raises on purpose."""


class InvalidUserId(VoiceCoreError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"user id cannot be used in a room name: {reason}")
        self.reason = reason


class UnknownAgentType(VoiceCoreError):
    def __init__(self, value: str, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown agent type {value[:40]!r}; expected one of {', '.join(known)}")
        self.value = value
        self.known = known


class MetadataNotReadable(VoiceCoreError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"room metadata is not readable: {reason}")
        self.reason = reason


class SessionNotFound(VoiceCoreError):
    def __init__(self, room_name: str) -> None:
        super().__init__("voice session not found")
        self.room_name = room_name


class NotSessionOwner(VoiceCoreError):
    def __init__(self, room_name: str, user_id: str) -> None:
        super().__init__("voice session belongs to another user")
        self.room_name = room_name
        self.user_id = user_id


class FieldNotAllowed(VoiceCoreError):
    """A request set ``field``, which the caller may not set (or not to that value)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field} may not be set: {reason}")
        self.field = field
        self.reason = reason


class GatewayError(VoiceCoreError):
    """The room service failed; ``operation`` and ``room_name`` are for logs."""

    def __init__(self, operation: str, room_name: str | None, detail: str) -> None:
        where = f" on room {room_name!r}" if room_name else ""
        super().__init__(f"room service {operation} failed{where}: {detail}")
        self.operation = operation
        self.room_name = room_name
        self.detail = detail


class WrongEventLoop(VoiceCoreError, RuntimeError):
    """A network client is bound to the event loop it was opened in.

    Synchronous hosts must keep one loop for the process (``asyncio.Runner``,
    see docs/library.md), not ``asyncio.run`` per call.
    """

    def __init__(self, client: str) -> None:
        super().__init__(
            f"the {client} was opened in another event loop; use one event loop for its whole life "
            "(docs/library.md: synchronous frameworks)"
        )


class StoreError(VoiceCoreError):
    """The session store failed (unreachable, timed out, closed); ``operation`` is for logs."""

    def __init__(self, operation: str, detail: str) -> None:
        super().__init__(f"session store {operation} failed: {detail}")
        self.operation = operation
        self.detail = detail
