"""The metrics port on the official prometheus-client, in a registry of each container's own.

Several uvicorn workers: prometheus-client's multiprocess mode. With
``PROMETHEUS_MULTIPROC_DIR`` set (to an empty directory, before the workers start)
every worker writes its values to files there, and a scrape of any worker renders
all of them (docs/hosting.md). Without it, each process answers for itself alone.
"""

from __future__ import annotations

import os
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from voicecore.core.metrics import Metrics

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
_MULTIPROCESS_DIR: Final = "PROMETHEUS_MULTIPROC_DIR"
# Seconds: LiveKit answers API calls in milliseconds, and an agent joins in well under one
# second when its worker is healthy; the upper buckets catch the slow and the stuck.
_LIVEKIT_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_AGENT_JOIN_BUCKETS: Final = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)
# From an app event's commit to its receiver's 2xx: fractions of a second when the receiver is up,
# the retry schedule's steps (seconds to hours) when it was not.
_DELIVERY_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0, 1800.0, 7200.0, 36000.0)
# Coaching sessions run for minutes: from a dropped start to the default one-hour cap and past it.
_DURATION_BUCKETS: Final = (10, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200)


def multiprocess_mode() -> bool:
    """Whether prometheus-client's multiprocess mode is on: several workers share the metrics."""
    return bool(os.environ.get(_MULTIPROCESS_DIR))


class PrometheusMetrics(Metrics):
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._started = Counter(
            "voicecore_sessions_started", "Voice sessions started.", ["agent_type"], registry=r
        )
        self._ended = Counter(
            "voicecore_sessions_ended", "Voice sessions ended, by end reason.", ["reason"], registry=r
        )
        self._duration = Histogram(
            "voicecore_session_duration_seconds",
            "How long sessions ran, from creation to their recorded end.",
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self._refused = Counter(
            "voicecore_sessions_refused", "Session starts refused, by reason.", ["reason"], registry=r
        )
        self._livekit = Histogram(
            "voicecore_livekit_request_seconds",
            "LiveKit API calls, by operation.",
            ["operation"],
            buckets=_LIVEKIT_BUCKETS,
            registry=r,
        )
        self._livekit_errors = Counter(
            "voicecore_livekit_errors",
            "LiveKit API calls that failed, by operation.",
            ["operation"],
            registry=r,
        )
        self._agent_join = Histogram(
            "voicecore_agent_join_seconds",
            "From a session's creation to its first agent joining (from LiveKit's webhooks).",
            buckets=_AGENT_JOIN_BUCKETS,
            registry=r,
        )
        self._missed = Counter(
            "voicecore_agent_misses",
            "Sessions found missing their agent, or with the agent gone while the user stayed.",
            registry=r,
        )
        self._redispatched = Counter(
            "voicecore_agent_redispatches",
            "Agents dispatched again, by what sent them (watchdog, rejoin).",
            ["trigger"],
            registry=r,
        )
        self._redispatch_refused = Counter(
            "voicecore_agent_redispatch_budget_spent",
            "Re-dispatches wanted and not sent: the session's budget (AGENT_REDISPATCH_LIMIT) is spent.",
            ["trigger"],
            registry=r,
        )
        for trigger in ("watchdog", "rejoin"):  # at 0 from the start, so a rate() sees the first one
            self._redispatched.labels(trigger)
            self._redispatch_refused.labels(trigger)
        self._app_delivered = Counter(
            "voicecore_app_events_delivered",
            "App events the app's endpoint took (2xx), by type.",
            ["type"],
            registry=r,
        )
        self._app_retried = Counter(
            "voicecore_app_events_retried",
            "Tries of app events that failed and will be retried, by type.",
            ["type"],
            registry=r,
        )
        self._app_dead = Counter(
            "voicecore_app_events_dead",
            "App events given up after their last try, by type.",
            ["type"],
            registry=r,
        )
        self._app_delivery = Histogram(
            "voicecore_app_event_delivery_seconds",
            "From an app event's commit to the app's endpoint answering 2xx.",
            buckets=_DELIVERY_BUCKETS,
            registry=r,
        )
        self._app_disabled = Counter(
            "voicecore_app_webhook_disabled",
            "Times the app's endpoint answered 410 Gone and was disabled.",
            registry=r,
        )
        # The outbox as this replica's delivery loop last counted it (every few seconds):
        # a scrape reads these and never counts the outbox itself.
        self._app_pending = Gauge(
            "voicecore_app_events_pending",
            "App events not yet delivered nor dead.",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self._app_oldest = Gauge(
            "voicecore_app_events_oldest_pending_seconds",
            "Age of the oldest app event not yet delivered.",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self._app_endpoint_disabled = Gauge(
            "voicecore_app_webhook_endpoint_disabled",
            "1 while the app's endpoint is disabled (a 410).",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self._live = Gauge(
            "voicecore_live_sessions",
            "Live sessions in this replica's session store, as of the scrape.",
            registry=r,
            multiprocess_mode="livemostrecent",
        )

    def session_started(self, agent_type: str) -> None:
        self._started.labels(agent_type).inc()

    def session_ended(self, reason: str, duration_seconds: float) -> None:
        self._ended.labels(reason).inc()
        self._duration.observe(max(duration_seconds, 0.0))

    def session_refused(self, reason: str) -> None:
        self._refused.labels(reason).inc()

    def livekit_request(self, operation: str, seconds: float, *, failed: bool) -> None:
        self._livekit.labels(operation).observe(seconds)
        if failed:
            self._livekit_errors.labels(operation).inc()

    def agent_joined(self, seconds_since_creation: float) -> None:
        self._agent_join.observe(max(seconds_since_creation, 0.0))

    def agent_missed(self) -> None:
        self._missed.inc()

    def agent_redispatched(self, trigger: str) -> None:
        self._redispatched.labels(trigger).inc()

    def agent_redispatch_refused(self, trigger: str) -> None:
        self._redispatch_refused.labels(trigger).inc()

    def app_event_delivered(self, event_type: str, seconds_since_commit: float) -> None:
        self._app_delivered.labels(event_type).inc()
        self._app_delivery.observe(max(seconds_since_commit, 0.0))

    def app_event_retried(self, event_type: str) -> None:
        self._app_retried.labels(event_type).inc()

    def app_event_dead(self, event_type: str) -> None:
        self._app_dead.labels(event_type).inc()

    def app_webhook_disabled(self) -> None:
        self._app_disabled.inc()

    def app_events_backlog(self, pending: int, oldest_pending_seconds: float, *, disabled: bool) -> None:
        self._app_pending.set(pending)
        self._app_oldest.set(oldest_pending_seconds)
        self._app_endpoint_disabled.set(1 if disabled else 0)

    def render(self, live_sessions: int) -> bytes:
        """The text exposition, with the live-session gauge set to ``live_sessions`` first."""
        self._live.set(live_sessions)
        directory = os.environ.get(_MULTIPROCESS_DIR)
        if directory:
            merged = CollectorRegistry()
            MultiProcessCollector(merged, path=directory)  # type: ignore[no-untyped-call]
            return generate_latest(merged)
        return generate_latest(self.registry)
