"""The composition root: settings -> adapters -> use cases, in one dependency-injector container.

The only place that names concrete adapters. Build it with
``VoiceCoreContainer.from_settings(load_settings(), room_gateway=...)``; tests,
benchmarks, examples and hosts all do, and swap an adapter through the keyword
arguments rather than by copying the wiring.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Protocol, Self, runtime_checkable

from dependency_injector import containers, providers

from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.instrumented_gateway import InstrumentedRoomGateway
from voicecore.adapters.livekit import LiveKitRoomGateway, LiveKitTokenIssuer, LiveKitWebhookVerifier
from voicecore.adapters.prometheus_metrics import PrometheusMetrics
from voicecore.adapters.redis_store import RedisSessionStore
from voicecore.core.agent_watchdog import AgentWatchdog
from voicecore.core.domain import utc_now
from voicecore.core.events import SessionEvents
from voicecore.core.index import SessionIndexRepair
from voicecore.core.metrics import NO_METRICS, Metrics
from voicecore.core.ports import RoomGateway
from voicecore.core.sessions import VoiceSessions
from voicecore.core.store import SessionStore
from voicecore.settings import VoiceCoreSettings


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


def _metrics(settings: VoiceCoreSettings) -> Metrics:
    return PrometheusMetrics() if settings.metrics_enabled else NO_METRICS


def _watchdog(
    settings: VoiceCoreSettings, gateway: RoomGateway, store: SessionStore, metrics: Metrics
) -> AgentWatchdog:
    return AgentWatchdog(
        gateway,
        store,
        settings.session_policy(),
        redispatch_limit=settings.agent_redispatch_limit,
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
    sessions = providers.Singleton(
        VoiceSessions,
        gateway=instrumented_gateway,
        token_issuer=token_issuer,
        policy=session_policy,
        store=session_store,
        guardrails=guardrail_policy,
        metrics=metrics,
    )
    session_events = providers.Singleton(SessionEvents, store=session_store, metrics=metrics)
    webhook_verifier = providers.Singleton(_webhook_verifier, settings)
    index_repair = providers.Singleton(SessionIndexRepair, gateway=instrumented_gateway, store=session_store)
    agent_watchdog = providers.Singleton(_watchdog, settings, instrumented_gateway, session_store, metrics)

    @classmethod
    def from_settings(
        cls,
        settings: VoiceCoreSettings,
        *,
        room_gateway: RoomGateway | None = None,
        session_store: SessionStore | None = None,
    ) -> Self:
        """The container for ``settings``; the keywords replace LiveKit or the store (tests, development)."""
        container = cls(settings=settings)
        if room_gateway is not None:
            container.room_gateway.override(providers.Object(room_gateway))
        if session_store is not None:
            container.session_store.override(providers.Object(session_store))
        return container


@runtime_checkable
class _Opened(Protocol):
    async def open(self) -> None: ...
    async def aclose(self) -> None: ...


@contextlib.asynccontextmanager
async def voicecore_lifespan(container: VoiceCoreContainer) -> AsyncIterator[VoiceSessions]:
    """Open the network clients in the running loop, yield the use cases, close on the way out.

    While open, one replica at a time repairs the session index from LiveKit: at
    start-up and every SESSION_RECONCILE_INTERVAL_SECONDS; and one at a time runs
    the agent watchdog every AGENT_WATCHDOG_INTERVAL_SECONDS. Hosts enter this in their
    own lifespan; the standalone app does it for itself; a plain asyncio program
    wraps its work in it.
    """
    clients = [
        client
        for client in (container.room_gateway(), container.session_store())
        if isinstance(client, _Opened)
    ]
    async with contextlib.AsyncExitStack() as stack:
        for client in clients:
            await client.open()
            stack.push_async_callback(client.aclose)
        stack.push_async_callback(container.sessions().aclose)  # cleanups end before the clients
        repair = container.index_repair()
        await repair.run_logged()  # at start-up, before serving: a restarted store is whole again
        interval = container.settings().session_reconcile_interval_seconds
        if interval:
            task = asyncio.create_task(repair.run_every(interval), name="voicecore-index-repair")
            stack.push_async_callback(_cancelled, task)
        watchdog_interval = container.settings().agent_watchdog_interval_seconds
        if watchdog_interval:
            watchdog = asyncio.create_task(
                container.agent_watchdog().run_every(watchdog_interval), name="voicecore-agent-watchdog"
            )
            stack.push_async_callback(_cancelled, watchdog)
        yield container.sessions()


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
