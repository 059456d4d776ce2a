"""The errors voicecore's core raises; adapters translate their own into these.

    VoiceCoreError
    ├── InvalidUserId         the user id cannot make a room name
    ├── UnknownAgentType      an agent type that does not exist
    ├── MetadataNotReadable   room metadata is not voicecore's (decode only)
    ├── SessionNotFound       no such session (missing, not ours, or not a name we make)
    ├── NotSessionOwner       the session exists and belongs to someone else
    ├── FieldNotAllowed       a request set a field the caller may not set
    ├── GatewayError          the room service failed; carries operation, room and a GatewayFailure
    ├── StoreError            the session store failed; carries the operation
    │   └── SessionIndexRebuilding  the store lost its index; a start waits for its rebuild
    ├── JournalUnavailable    the session journal's database failed; carries the operation
    ├── JournalSchemaOutdated the journal's schema is older than the code; names the command to run
    ├── InvalidHistoryCursor  a history cursor this user was not given (tampered, or someone else's)
    ├── TooManyLiveSessions   the user is at the live-session cap
    ├── CreationRateLimited   the user started too many sessions lately; carries retry_after_seconds
    ├── UsageExhausted        the user's minute allowance is used up; carries the minutes and the reset
    ├── InvalidIdempotencyKey an Idempotency-Key that is empty, too long or not printable ASCII
    ├── IdempotencyKeyReused  the key was used with another request body
    ├── IdempotencyKeyBusy    the key's first request is still creating its session
    ├── WebhookNotVerified    a webhook's signature, issuer, expiry or body hash is wrong
    ├── WebhookNotReadable    a verified webhook whose body is not an event
    └── WrongEventLoop        a client opened in one event loop was used from another

Messages never carry secrets, tokens or lower-level exception text: an outer
layer may show a message to a client, and logs get the cause via ``__cause__``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


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


class GatewayFailure(StrEnum):
    """What kind of failure, so that readiness and logs can say what to check."""

    UNREACHABLE = "unreachable"  # no connection, or it dropped
    TIMEOUT = "timeout"
    CREDENTIALS_REFUSED = "credentials_refused"  # the API key or secret is not one LiveKit knows
    TLS_TO_PLAIN_SERVER = "tls_to_plain_server"  # a wss:// or https:// URL, a server without TLS
    TLS_FAILED = "tls_failed"  # the certificate, or the handshake, failed
    ERROR_ANSWER = "error_answer"  # LiveKit answered, with an error
    OTHER = "other"


class GatewayError(VoiceCoreError):
    """The room service failed; ``operation``, ``room_name`` and ``reason`` are for logs and readiness."""

    def __init__(
        self,
        operation: str,
        room_name: str | None,
        detail: str,
        *,
        reason: GatewayFailure = GatewayFailure.OTHER,
    ) -> None:
        where = f" on room {room_name!r}" if room_name else ""
        super().__init__(f"room service {operation} failed{where}: {detail}")
        self.operation = operation
        self.room_name = room_name
        self.detail = detail
        self.reason = reason


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


class SessionIndexRebuilding(StoreError):
    """The store holds no index of LiveKit's rooms (new, emptied or restored): no session starts yet.

    The live-session cap could not be counted; the index is being rebuilt from LiveKit,
    which takes about ``retry_after_seconds``.
    """

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__("admit_session", "the session index is being rebuilt from LiveKit")
        self.retry_after_seconds = max(1, retry_after_seconds)


class JournalUnavailable(VoiceCoreError):
    """The session journal's database failed (unreachable, timed out, closed); ``operation`` is for logs."""

    def __init__(self, operation: str, detail: str) -> None:
        super().__init__(f"session journal {operation} failed: {detail}")
        self.operation = operation
        self.detail = detail


class JournalSchemaOutdated(VoiceCoreError):
    """The journal database's schema is older than this code's and may not be migrated here."""

    def __init__(self, current: str | None, head: str, command: str) -> None:
        super().__init__(
            f"the session journal's schema is at {current or 'nothing'} and this code needs {head}: "
            f"run `{command}`"
        )
        self.current = current
        self.head = head
        self.command = command


class InvalidHistoryCursor(VoiceCoreError):
    def __init__(self) -> None:
        super().__init__("the history cursor is not one this service gave this user")


class WebhookNotVerified(VoiceCoreError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"webhook not verified: {reason}")
        self.reason = reason


class WebhookNotReadable(VoiceCoreError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"webhook body is not an event: {reason}")
        self.reason = reason


class TooManyLiveSessions(VoiceCoreError):
    def __init__(self, *, live: int, limit: int) -> None:
        super().__init__(f"{live} live voice sessions; at most {limit} at once")
        self.live = live
        self.limit = limit


class CreationRateLimited(VoiceCoreError):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many voice sessions started lately; retry in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class UsageExhausted(VoiceCoreError):
    """The user's allowance is used up: ``used_minutes`` of ``limit_minutes``, until ``resets_at``."""

    def __init__(
        self, *, used_minutes: int, limit_minutes: int, resets_at: datetime, retry_after_seconds: int
    ) -> None:
        super().__init__(
            f"{used_minutes} of {limit_minutes} voice minutes used; "
            f"the allowance resets at {resets_at.isoformat()}"
        )
        self.used_minutes = used_minutes
        self.limit_minutes = limit_minutes
        self.resets_at = resets_at
        self.retry_after_seconds = retry_after_seconds


class InvalidIdempotencyKey(VoiceCoreError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"Idempotency-Key is not usable: {reason}")
        self.reason = reason


class IdempotencyKeyReused(VoiceCoreError):
    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was used with a different request body")


class IdempotencyKeyBusy(VoiceCoreError):
    def __init__(self) -> None:
        super().__init__("the first request with this Idempotency-Key is still creating its session")
