"""Settings of the standalone HTTP service (a host that mounts the router needs none)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from voicecore.settings import SettingsError


class HttpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True, env_ignore_empty=True)

    # HS256 wants a key at least as long as its output (RFC 7518 section 3.2).
    auth_jwt_secret: Annotated[SecretStr, Field(min_length=32)]
    log_format: Literal["plain", "json"] = "plain"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


def load_http_settings() -> HttpSettings:
    try:
        return HttpSettings()
    except ValidationError as exc:
        raise SettingsError.from_validation_error(exc) from None
