"""Settings of the standalone HTTP service (a host that mounts the router needs none)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from voicecore.settings import EnvFile, read_settings


def _check_origins(value: str) -> str:
    for origin in _split(value):
        parts = urlsplit(origin)
        if origin != "*" and (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or parts.username
        ):
            raise ValueError("each origin must be scheme://host[:port] (no path), or *")
    return value


def _split(value: str) -> tuple[str, ...]:
    return tuple(origin.strip() for origin in value.split(",") if origin.strip())


class HttpSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    # HS256 wants a key at least as long as its output (RFC 7518 section 3.2).
    auth_jwt_secret: Annotated[SecretStr, Field(min_length=32)]
    log_format: Literal["plain", "json"] = "plain"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Web apps on these origins may call the API with their bearer header; empty: no CORS at all.
    cors_allow_origins: Annotated[str, AfterValidator(_check_origins)] = ""
    # The demo web client at /demo/ (a development aid, never on by default).
    demo_page: bool = False

    @property
    def cors_origins(self) -> tuple[str, ...]:
        return _split(self.cors_allow_origins)


def load_http_settings(environ: Mapping[str, str] | None = None, *, env_file: EnvFile = None) -> HttpSettings:
    return read_settings(HttpSettings, environ, env_file=env_file)
