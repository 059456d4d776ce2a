"""The standalone service's container: voicecore's, plus HTTP settings and the JWT check."""

from __future__ import annotations

from dependency_injector import providers

from voicecore.container import VoiceCoreContainer
from voicecore_http.auth import JwtAuthenticator
from voicecore_http.settings import HttpSettings, load_http_settings


def _authenticator(settings: HttpSettings) -> JwtAuthenticator:
    return JwtAuthenticator(settings.auth_jwt_secret)


class ServiceContainer(VoiceCoreContainer):
    http_settings = providers.Singleton(load_http_settings)
    authenticator = providers.Singleton(_authenticator, http_settings)
