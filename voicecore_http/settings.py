"""Settings of the standalone HTTP service (a host that mounts the router needs none)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from voicecore.settings import EnvFile, read_settings


class HttpSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    # HS256 wants a key at least as long as its output (RFC 7518 section 3.2).
    auth_jwt_secret: Annotated[SecretStr, Field(min_length=32)]
    log_format: Literal["plain", "json"] = "plain"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


def load_http_settings(environ: Mapping[str, str] | None = None, *, env_file: EnvFile = None) -> HttpSettings:
    return read_settings(HttpSettings, environ, env_file=env_file)
