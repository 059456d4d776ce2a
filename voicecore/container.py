"""The composition root: settings -> adapters -> use cases, in one dependency-injector container.

The only place that names concrete adapters. Build it with
``VoiceCoreContainer.from_settings(load_settings(), room_gateway=...)``; tests,
benchmarks, examples and hosts all do, and swap an adapter through the keyword
arguments rather than by copying the wiring.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Protocol, Self, runtime_checkable

from dependency_injector import containers, providers

from voicecore.adapters.livekit import LiveKitRoomGateway, LiveKitTokenIssuer
from voicecore.core.ports import RoomGateway
from voicecore.core.sessions import VoiceSessions
from voicecore.settings import LiveKitSettings


def _livekit_gateway(settings: LiveKitSettings) -> LiveKitRoomGateway:
    return LiveKitRoomGateway(
        settings.livekit_url,
        settings.livekit_api_key,
        settings.livekit_api_secret.get_secret_value(),
        timeout_seconds=settings.livekit_timeout_seconds,
    )


def _livekit_token_issuer(settings: LiveKitSettings) -> LiveKitTokenIssuer:
    return LiveKitTokenIssuer(
        settings.livekit_api_key,
        settings.livekit_api_secret.get_secret_value(),
        server_url=settings.livekit_url,
    )


class VoiceCoreContainer(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=LiveKitSettings)
    room_gateway = providers.Singleton(_livekit_gateway, settings)
    token_issuer = providers.Singleton(_livekit_token_issuer, settings)
    session_policy = providers.Singleton(LiveKitSettings.session_policy, settings)
    sessions = providers.Singleton(
        VoiceSessions,
        gateway=room_gateway,
        token_issuer=token_issuer,
        policy=session_policy,
    )

    @classmethod
    def from_settings(cls, settings: LiveKitSettings, *, room_gateway: RoomGateway | None = None) -> Self:
        """The container for ``settings``; ``room_gateway`` replaces LiveKit (tests, development)."""
        container = cls(settings=settings)
        if room_gateway is not None:
            container.room_gateway.override(providers.Object(room_gateway))
        return container


@runtime_checkable
class _Opened(Protocol):
    async def open(self) -> None: ...
    async def aclose(self) -> None: ...


@contextlib.asynccontextmanager
async def voicecore_lifespan(container: VoiceCoreContainer) -> AsyncIterator[VoiceSessions]:
    """Open the network clients in the running loop, yield the use cases, close on the way out.

    Hosts enter this in their own lifespan; the standalone app does it for itself;
    a plain asyncio program wraps its work in it.
    """
    gateway = container.room_gateway()
    if isinstance(gateway, _Opened):
        await gateway.open()
    try:
        yield container.sessions()
    finally:
        try:
            await container.sessions().aclose()  # background cleanups end before the client
        finally:
            if isinstance(gateway, _Opened):
                await gateway.aclose()
