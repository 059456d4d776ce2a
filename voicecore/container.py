"""The dependency-injector container: settings -> adapters -> use cases.

The only place that names concrete adapters. Tests and hosts swap any of them
with ``provider.override(...)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from dependency_injector import containers, providers

from voicecore.adapters.livekit import LiveKitRoomGateway, LiveKitTokenIssuer
from voicecore.core.sessions import VoiceSessions
from voicecore.settings import LiveKitSettings, load_livekit_settings


def _livekit_gateway(settings: LiveKitSettings) -> LiveKitRoomGateway:
    return LiveKitRoomGateway(
        settings.livekit_url,
        settings.livekit_api_key,
        settings.livekit_api_secret.get_secret_value(),
        timeout_seconds=settings.livekit_timeout_seconds,
    )


def _livekit_token_issuer(settings: LiveKitSettings) -> LiveKitTokenIssuer:
    return LiveKitTokenIssuer(settings.livekit_api_key, settings.livekit_api_secret.get_secret_value())


class VoiceCoreContainer(containers.DeclarativeContainer):
    settings = providers.Singleton(load_livekit_settings)
    room_gateway = providers.Singleton(_livekit_gateway, settings)
    token_issuer = providers.Singleton(_livekit_token_issuer, settings)
    session_policy = providers.Singleton(LiveKitSettings.session_policy, settings)
    sessions = providers.Singleton(
        VoiceSessions,
        gateway=room_gateway,
        token_issuer=token_issuer,
        policy=session_policy,
    )


@runtime_checkable
class _Opened(Protocol):
    async def open(self) -> None: ...
    async def aclose(self) -> None: ...


@contextlib.asynccontextmanager
async def voicecore_lifespan(container: VoiceCoreContainer) -> AsyncIterator[None]:
    """Open the room gateway's client in the running loop; close it on the way out.

    Hosts enter this in their own lifespan; the standalone app does it for itself.
    """
    gateway = container.room_gateway()
    if isinstance(gateway, _Opened):
        await gateway.open()
    try:
        yield
    finally:
        try:
            await container.sessions().aclose()  # background cleanups end before the client
        finally:
            if isinstance(gateway, _Opened):
                await gateway.aclose()
