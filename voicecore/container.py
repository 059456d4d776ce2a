"""The composition root: settings -> adapters -> use cases, in one dependency-injector container.

The only place that names concrete adapters. Build it with
``VoiceCoreContainer.from_settings(load_settings(), room_gateway=...)``; tests,
benchmarks, examples and hosts all do, and swap an adapter through the keyword
arguments rather than by copying the wiring.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Final, Protocol, Self, runtime_checkable

from dependency_injector import containers, providers

from voicecore.adapters.app_webhook_client import AiohttpWebhookClient
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.instrumented_gateway import InstrumentedRoomGateway
from voicecore.adapters.livekit import LiveKitRoomGateway, LiveKitTokenIssuer, LiveKitWebhookVerifier
from voicecore.adapters.prometheus_metrics import PrometheusMetrics
from voicecore.adapters.redis_store import RedisSessionStore
from voicecore.adapters.sql_journal import SqlEventOutbox, SqlSessionJournal
from voicecore.adapters.sql_journal.outbox import endpoint_key
from voicecore.core.agent_watchdog import AgentWatchdog
from voicecore.core.app_webhooks import DEFAULT_CONCURRENCY, AppWebhookDelivery
from voicecore.core.domain import utc_now
from voicecore.core.enforcer import SessionBounds
from voicecore.core.errors import JournalUnavailable
from voicecore.core.events import SessionEvents
from voicecore.core.history import AppEvents
from voicecore.core.index import SessionIndex
from voicecore.core.journal import SessionJournal
from voicecore.core.metrics import NO_METRICS, Metrics
from voicecore.core.outbox import EventOutbox, WebhookClient
from voicecore.core.ports import RoomGateway
from voicecore.core.recorder import SessionRecorder
from voicecore.core.repair import SessionRepair
from voicecore.core.retention import JournalRetention
from voicecore.core.sessions import VoiceSessions
from voicecore.core.store import SessionStore
from voicecore.core.usage import UsageMeter
from voicecore.settings import VoiceCoreSettings

logger = logging.getLogger(__name__)

# How often waiting journal writes are retried, and how often old records are purged.
JOURNAL_FLUSH_SECONDS: Final = 2.0
RETENTION_PASS_SECONDS: Final = 3600.0


def _livekit_gateway(settings: VoiceCoreSettings) -> LiveKitRoomGateway:
    return LiveKitRoomGateway(
        settings.livekit_url,
        settings.livekit_api_key,
        settings.livekit_api_secret.get_secret_value(),
        timeout_seconds=settings.livekit_timeout_seconds,
    )


def _livekit_token_issuer(settings: VoiceCoreSettings) -> LiveKitTokenIssuer:
    return LiveKitTokenIssuer(
        settings.livekit_api_key,
        settings.livekit_api_secret.get_secret_value(),
        server_url=settings.livekit_url,
    )


def _webhook_verifier(settings: VoiceCoreSettings) -> LiveKitWebhookVerifier:
    return LiveKitWebhookVerifier(settings.livekit_api_key, settings.livekit_api_secret.get_secret_value())


def _session_store(settings: VoiceCoreSettings) -> SessionStore:
    if settings.session_store_url is None:
        return InProcessSessionStore()
    return RedisSessionStore(settings.session_store_url.get_secret_value())


def _journal(settings: VoiceCoreSettings) -> SessionJournal:
    return SqlSessionJournal(
        settings.journal_location(),
        migrate=settings.journal_migrate_on_start,
        timeout_seconds=settings.journal_timeout_seconds,
        send_hold_seconds=settings.app_webhook_timeout_seconds if settings.app_webhooks_enabled else 0.0,
    )


def _event_outbox(settings: VoiceCoreSettings, journal: SessionJournal) -> EventOutbox:
    if not isinstance(journal, SqlSessionJournal):
        raise TypeError("app webhooks are sent from the SQL journal's outbox")
    return SqlEventOutbox(
        journal, endpoint=endpoint_key(settings.app_webhook_url or ""), senders=DEFAULT_CONCURRENCY
    )


def _webhook_client(settings: VoiceCoreSettings) -> WebhookClient:
    return AiohttpWebhookClient(
        settings.app_webhook_url or "",
        settings.app_webhook_secrets(),
        timeout_seconds=settings.app_webhook_timeout_seconds,
        clock=utc_now,
        connections=DEFAULT_CONCURRENCY,
    )


def _app_webhook_delivery(
    settings: VoiceCoreSettings, outbox: EventOutbox, client: WebhookClient, metrics: Metrics
) -> AppWebhookDelivery:
    return AppWebhookDelivery(outbox, client, settings.app_webhook_schedule(), clock=utc_now, metrics=metrics)


def _app_events(settings: VoiceCoreSettings) -> AppEvents:
    """Events are made (and kept) only when there is an endpoint to send them to."""
    return AppEvents(enabled=settings.app_webhooks_enabled, clock=utc_now)


def _history_key(settings: VoiceCoreSettings) -> bytes:
    """The key history cursors are signed with: the same on every replica, known to no client."""
    secret = settings.livekit_api_secret.get_secret_value().encode()
    return hmac.new(secret, b"voicecore history cursors v1", hashlib.sha256).digest()


def _retention(settings: VoiceCoreSettings, journal: SessionJournal, store: SessionStore) -> JournalRetention:
    return JournalRetention(
        journal, store, keep=timedelta(days=settings.journal_retention_days), clock=utc_now
    )


def _session_index(settings: VoiceCoreSettings, gateway: RoomGateway, store: SessionStore) -> SessionIndex:
    # A create admitted just before a store's loss makes its room within LiveKit's call deadline.
    settle = timedelta(seconds=settings.livekit_timeout_seconds + 1)
    return SessionIndex(gateway, store, utc_now, settle=settle)


def _metrics(settings: VoiceCoreSettings) -> Metrics:
    return PrometheusMetrics() if settings.metrics_enabled else NO_METRICS


def _watchdog(
    settings: VoiceCoreSettings,
    gateway: RoomGateway,
    store: SessionStore,
    recorder: SessionRecorder,
    metrics: Metrics,
) -> AgentWatchdog:
    return AgentWatchdog(
        gateway,
        store,
        recorder,
        settings.session_policy(),
        clock=utc_now,
        metrics=metrics,
    )


class VoiceCoreContainer(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=VoiceCoreSettings)
    metrics = providers.Singleton(_metrics, settings)
    room_gateway = providers.Singleton(_livekit_gateway, settings)
    # What the use cases call: the gateway (or its replacement), timed per operation.
    instrumented_gateway = providers.Singleton(InstrumentedRoomGateway, room_gateway, metrics)
    token_issuer = providers.Singleton(_livekit_token_issuer, settings)
    session_store = providers.Singleton(_session_store, settings)
    session_policy = providers.Singleton(VoiceCoreSettings.session_policy, settings)
    guardrail_policy = providers.Singleton(VoiceCoreSettings.guardrail_policy, settings)
    journal = providers.Singleton(_journal, settings)
    app_events = providers.Singleton(_app_events, settings)
    recorder = providers.Singleton(SessionRecorder, journal, app_events, clock=utc_now, metrics=metrics)
    # The replica's session index: its creates and its repair pass rebuild it together.
    session_index = providers.Singleton(_session_index, settings, instrumented_gateway, session_store)
    sessions = providers.Singleton(
        VoiceSessions,
        gateway=instrumented_gateway,
        token_issuer=token_issuer,
        policy=session_policy,
        store=session_store,
        recorder=recorder,
        guardrails=guardrail_policy,
        metrics=metrics,
        history_key=providers.Singleton(_history_key, settings),
        bounds=providers.Singleton(VoiceCoreSettings.bounds_policy, settings),
        index=session_index,
    )
    session_events = providers.Singleton(
        SessionEvents, store=session_store, recorder=recorder, metrics=metrics
    )
    webhook_verifier = providers.Singleton(_webhook_verifier, settings)
    repair = providers.Singleton(
        SessionRepair, instrumented_gateway, session_store, recorder, session_policy, clock=utc_now,
        index=session_index,
    )  # fmt: skip
    agent_watchdog = providers.Singleton(
        _watchdog, settings, instrumented_gateway, session_store, recorder, metrics
    )
    retention = providers.Singleton(_retention, settings, journal, session_store)
    bounds_policy = providers.Singleton(VoiceCoreSettings.bounds_policy, settings)
    usage_meter = providers.Singleton(UsageMeter, journal, session_store, bounds_policy, utc_now)
    session_bounds = providers.Singleton(
        SessionBounds, instrumented_gateway, session_store, recorder, usage_meter, clock=utc_now
    )
    event_outbox = providers.Singleton(_event_outbox, settings, journal)
    webhook_client = providers.Singleton(_webhook_client, settings)
    app_webhook_delivery = providers.Singleton(
        _app_webhook_delivery, settings, event_outbox, webhook_client, metrics
    )

    @classmethod
    def from_settings(
        cls,
        settings: VoiceCoreSettings,
        *,
        room_gateway: RoomGateway | None = None,
        session_store: SessionStore | None = None,
        journal: SessionJournal | None = None,
    ) -> Self:
        """The container for ``settings``; the keywords replace LiveKit, the store or the journal."""
        container = cls(settings=settings)
        if room_gateway is not None:
            container.room_gateway.override(providers.Object(room_gateway))
        if session_store is not None:
            container.session_store.override(providers.Object(session_store))
        if journal is not None:
            container.journal.override(providers.Object(journal))
        return container


@runtime_checkable
class _Opened(Protocol):
    async def open(self) -> None: ...
    async def aclose(self) -> None: ...


@contextlib.asynccontextmanager
async def voicecore_lifespan(container: VoiceCoreContainer) -> AsyncIterator[VoiceSessions]:
    """Open the clients and the journal in the running loop, yield the use cases, close on the way out.

    While open, one replica at a time repairs the session index and the journal from
    LiveKit (at start-up and every SESSION_RECONCILE_INTERVAL_SECONDS), runs the agent
    watchdog (every AGENT_WATCHDOG_INTERVAL_SECONDS) and purges old records
    (JOURNAL_RETENTION_DAYS); every replica retries its journal writes that waited for
    the database and, with APP_WEBHOOK_URL set, sends the app's events from the
    outbox. Hosts enter this in their own lifespan; the standalone app does it for
    itself; a plain asyncio program wraps its work in it.

    Raises ``JournalSchemaOutdated`` when the journal's schema is older than the code
    and may not be migrated here. A journal whose database does not answer yet is
    no reason not to start: status, list and end work without it.
    """
    settings = container.settings()
    async with contextlib.AsyncExitStack() as stack:
        for client in (container.room_gateway(), container.session_store()):
            if isinstance(client, _Opened):
                await client.open()
                stack.push_async_callback(client.aclose)
        journal = container.journal()
        stack.push_async_callback(journal.aclose)
        try:
            await journal.open()
        except JournalUnavailable as exc:
            logger.error("the session journal does not answer at start-up; starting without it: %s", exc)
        stack.push_async_callback(container.sessions().aclose)  # cleanups end before the clients
        repair = container.repair()
        await repair.run_logged()  # at start-up, before serving: a restarted store is whole again
        bounds = container.session_bounds()
        await bounds.run_logged()  # and what became overdue while no replica ran is ended at once
        loops = [
            (container.recorder().flush_every(JOURNAL_FLUSH_SECONDS), "journal-flush"),
            (bounds.run_every(), "bounds"),
        ]
        if settings.session_reconcile_interval_seconds:
            loops.append((repair.run_every(settings.session_reconcile_interval_seconds), "repair"))
        if settings.agent_watchdog_interval_seconds:
            watchdog = container.agent_watchdog()
            loops.append((watchdog.run_every(settings.agent_watchdog_interval_seconds), "agent-watchdog"))
        if settings.journal_retention_days:
            loops.append((container.retention().run_every(RETENTION_PASS_SECONDS), "journal-retention"))
        if settings.app_webhooks_enabled:
            for opened in (container.webhook_client(), container.event_outbox()):
                await opened.open()
                stack.push_async_callback(opened.aclose)  # after the loop below has stopped
            loops.append((container.app_webhook_delivery().run(), "app-webhooks"))
        for loop, name in loops:
            task = asyncio.create_task(loop, name=f"voicecore-{name}")
            stack.push_async_callback(_cancelled, task)
        yield container.sessions()


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
