"""The standalone service's container: voicecore's, plus HTTP settings and the JWT check."""

from __future__ import annotations

from collections.abc import Mapping

from dependency_injector import providers

from voicecore.container import VoiceCoreContainer
from voicecore.core.journal import SessionJournal
from voicecore.core.ports import RoomGateway
from voicecore.settings import EnvFile, SettingsError, VoiceCoreSettings, load_settings
from voicecore_http.auth import JwtAuthenticator
from voicecore_http.settings import HttpSettings, load_http_settings


def _usage_claim(settings: VoiceCoreSettings) -> str | None:
    return settings.usage_limit_claim


class ServiceContainer(VoiceCoreContainer):
    http_settings = providers.Dependency(instance_of=HttpSettings)
    authenticator = providers.Singleton(
        JwtAuthenticator.from_settings,
        http_settings,
        usage_claim=providers.Callable(_usage_claim, VoiceCoreContainer.settings),
    )

    @classmethod
    def for_service(
        cls,
        settings: VoiceCoreSettings,
        http_settings: HttpSettings,
        *,
        room_gateway: RoomGateway | None = None,
        journal: SessionJournal | None = None,
    ) -> ServiceContainer:
        container = cls.from_settings(settings, room_gateway=room_gateway, journal=journal)
        container.http_settings.override(providers.Object(http_settings))
        return container

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, *, env_file: EnvFile = None
    ) -> ServiceContainer:
        """Read every setting now: one SettingsError names every missing variable."""
        errors: list[SettingsError] = []
        try:
            settings = load_settings(environ, env_file=env_file)
        except SettingsError as exc:
            errors.append(exc)
        try:
            http_settings = load_http_settings(environ, env_file=env_file)
        except SettingsError as exc:
            errors.append(exc)
        if errors:
            raise SettingsError.combine(errors)
        return cls.for_service(settings, http_settings)
