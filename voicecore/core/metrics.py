"""The metrics port: what the use cases count, with no metrics library in the core.

The Prometheus adapter (voicecore/adapters/prometheus_metrics.py) implements it;
``NO_METRICS`` counts nothing, for hosts that turn metrics off and for tests.
"""

from __future__ import annotations

from typing import Final, Protocol, runtime_checkable

from voicecore.core.errors import (
    CreationRateLimited,
    IdempotencyKeyBusy,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    InvalidUserId,
    SessionIndexRebuilding,
    TooManyLiveSessions,
    UnknownAgentType,
    UsageExhausted,
)


@runtime_checkable
class Metrics(Protocol):
    def session_started(self, agent_type: str) -> None: ...

    def session_ended(self, reason: str, duration_seconds: float) -> None:
        """A session's end recorded (once each, whoever reported it), why, and how long it ran."""
        ...

    def session_refused(self, reason: str) -> None:
        """A start refused before anything was made; ``reason`` is one of a few fixed words."""
        ...

    def livekit_request(self, operation: str, seconds: float, *, failed: bool) -> None: ...

    def agent_joined(self, seconds_since_creation: float) -> None: ...

    def agent_missed(self) -> None:
        """A session went missing, or its agent left while the user stayed (counted once each)."""
        ...

    def agent_redispatched(self, trigger: str) -> None:
        """An agent dispatched again; ``trigger``: ``watchdog`` or ``rejoin``."""
        ...

    def agent_redispatch_refused(self, trigger: str) -> None:
        """A re-dispatch that was wanted and not sent: the session's budget is spent."""
        ...

    def app_event_delivered(self, event_type: str, seconds_since_commit: float) -> None: ...

    def app_event_retried(self, event_type: str) -> None: ...

    def app_event_dead(self, event_type: str) -> None: ...

    def app_webhook_disabled(self) -> None:
        """The app's endpoint answered 410 Gone."""
        ...

    def app_events_backlog(self, pending: int, oldest_pending_seconds: float, *, disabled: bool) -> None:
        """The outbox as the delivery loop last counted it."""
        ...


class NoMetrics:
    def session_started(self, agent_type: str) -> None:
        pass

    def session_ended(self, reason: str, duration_seconds: float) -> None:
        pass

    def session_refused(self, reason: str) -> None:
        pass

    def livekit_request(self, operation: str, seconds: float, *, failed: bool) -> None:
        pass

    def agent_joined(self, seconds_since_creation: float) -> None:
        pass

    def agent_missed(self) -> None:
        pass

    def agent_redispatched(self, trigger: str) -> None:
        pass

    def agent_redispatch_refused(self, trigger: str) -> None:
        pass

    def app_event_delivered(self, event_type: str, seconds_since_commit: float) -> None:
        pass

    def app_event_retried(self, event_type: str) -> None:
        pass

    def app_event_dead(self, event_type: str) -> None:
        pass

    def app_webhook_disabled(self) -> None:
        pass

    def app_events_backlog(self, pending: int, oldest_pending_seconds: float, *, disabled: bool) -> None:
        pass


NO_METRICS: Final[Metrics] = NoMetrics()


_REFUSALS: Final = (
    (TooManyLiveSessions, "live_session_cap"),
    (CreationRateLimited, "rate_limited"),
    (UsageExhausted, "usage_exhausted"),
    (IdempotencyKeyBusy, "idempotency_key_busy"),
    (SessionIndexRebuilding, "index_rebuilding"),
    ((InvalidUserId, UnknownAgentType, InvalidIdempotencyKey, IdempotencyKeyReused), "invalid_request"),
)


def refusal_reason(error: Exception) -> str | None:
    """The reason label of a refused start; None for a failure that is not a refusal (LiveKit down)."""
    for kinds, reason in _REFUSALS:
        if isinstance(error, kinds):
            return reason
    return None
