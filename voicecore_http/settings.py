"""Settings of the standalone HTTP service (a host that mounts the router needs none)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from voicecore.settings import EnvFile, read_settings

_KIB = 1024
_DAY = 24 * 3600


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
    # When set, every token must carry this `iss`, and this value among its `aud`.
    auth_jwt_issuer: Annotated[str, Field(min_length=1)] | None = None
    auth_jwt_audience: Annotated[str, Field(min_length=1)] | None = None
    # The longest accepted `exp - iat`: a token valid for a century is refused.
    auth_jwt_max_lifetime_seconds: Annotated[int, Field(ge=60, le=30 * _DAY)] = _DAY
    log_format: Literal["plain", "json"] = "plain"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Web apps on these origins may call the API with their bearer header; empty: no CORS at all.
    cors_allow_origins: Annotated[str, AfterValidator(_check_origins)] = ""
    # The demo web client at /demo/ (a development aid, never on by default).
    demo_page: bool = False
    # GET /metrics on a listener of its own (then the API's port serves none); unset: on the API's port.
    metrics_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    metrics_host: Annotated[str, Field(min_length=1)] = "127.0.0.1"

    @property
    def cors_origins(self) -> tuple[str, ...]:
        return _split(self.cors_allow_origins)

    # The edge: enforced before routing and authentication (voicecore_http.server).
    # Off only to measure what the limits cost (docs/hosting.md).
    http_limits_enabled: bool = True
    # The largest legitimate body is a few dozen bytes.
    http_max_body_bytes: Annotated[int, Field(ge=_KIB, le=1024 * _KIB)] = 8 * _KIB
    # The request line and headers together, and how many headers.
    http_max_header_bytes: Annotated[int, Field(ge=_KIB, le=1024 * _KIB)] = 16 * _KIB
    http_max_headers: Annotated[int, Field(ge=8, le=1000)] = 100
    # A connection waiting for a request is closed after this long (uvicorn's keep-alive).
    http_idle_timeout_seconds: Annotated[int, Field(ge=1, le=3600)] = 5
    # A request must arrive whole, headers and body, this long after its first byte.
    http_request_timeout_seconds: Annotated[int, Field(ge=1, le=3600)] = 10
    # Open connections and requests in progress; past it, uvicorn answers 503.
    http_max_concurrency: Annotated[int, Field(ge=1, le=100_000)] = 500


def load_http_settings(environ: Mapping[str, str] | None = None, *, env_file: EnvFile = None) -> HttpSettings:
    return read_settings(HttpSettings, environ, env_file=env_file)
