"""voicecore's configuration: read once, from the environment, a .env file only when named, or a mapping.

``load_settings()`` reads the process environment; ``load_settings(env_file=".env")``
also reads that file (the environment wins); ``load_settings({"LIVEKIT_URL": ...})``
reads only the mapping, never the environment: tests, benchmarks and hosts that
keep their configuration elsewhere use that.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from voicecore.core.bounds import BoundsPolicy, UsagePeriod
from voicecore.core.domain import GuardrailPolicy, SessionPolicy
from voicecore.webhook_config import AppWebhookFields

_LIVEKIT_URL_SCHEMES = frozenset({"ws", "wss", "http", "https"})


# LiveKit's own server reports a shorter secret as an error: "secret is too short,
# should be at least 32 characters for security" (livekit/livekit v1.13.5,
# pkg/config/config.go, `len(secret) < 32`).
LIVEKIT_MIN_SECRET_LENGTH = 32


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _normalise_livekit_url(url: str) -> str:
    """The one form every client and the API client get: scheme and host lower case, no trailing slash.

    Whitespace around the value is dropped before this runs; whitespace or control
    characters inside are refused, because urlsplit would silently remove some of them.
    """
    if any(character.isspace() or not character.isprintable() for character in url):
        raise ValueError("must not contain whitespace or control characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in _LIVEKIT_URL_SCHEMES or not parts.hostname:
        raise ValueError("must be a ws://, wss://, http:// or https:// URL with a host")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("must not carry credentials, a query or a fragment")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), "", ""))


def _no_surrounding_whitespace(value: str) -> str:
    # A key or secret pasted with a trailing space or newline is refused by LiveKit
    # as a wrong credential; say so here instead, without echoing it.
    if value != value.strip():
        raise ValueError("must not start or end with whitespace")
    return value


def _livekit_secret(value: SecretStr) -> SecretStr:
    secret = value.get_secret_value()
    _no_surrounding_whitespace(secret)
    if len(secret) < LIVEKIT_MIN_SECRET_LENGTH:
        raise ValueError(f"must be at least {LIVEKIT_MIN_SECRET_LENGTH} characters, LiveKit's own minimum")
    return value


_STORE_URL_SCHEMES = frozenset({"redis", "rediss", "unix"})


def _check_store_url(url: SecretStr) -> SecretStr:
    # The URL may carry a password: messages never quote it.
    parts = urlsplit(url.get_secret_value())
    if parts.scheme not in _STORE_URL_SCHEMES:
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    if parts.scheme == "unix" and not parts.path:
        raise ValueError("a unix:// URL needs the socket's path")
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError("a redis:// or rediss:// URL needs a host")
    return url


_JOURNAL_URL_SCHEMES = frozenset({"sqlite", "postgresql", "postgres"})
DEFAULT_JOURNAL_FILE = "voicecore-journal.sqlite3"


def _check_journal_url(url: SecretStr) -> SecretStr:
    # The URL may carry a password: messages never quote it.
    parts = urlsplit(url.get_secret_value())
    if parts.scheme not in _JOURNAL_URL_SCHEMES:
        raise ValueError("must be a sqlite:///path or postgresql://user@host:port/database URL")
    if parts.scheme == "sqlite" and (parts.netloc or not parts.path.strip("/")):
        raise ValueError("a sqlite URL is sqlite:///relative/path or sqlite:////absolute/path")
    if parts.scheme != "sqlite" and not parts.hostname:
        raise ValueError("a postgresql:// URL needs a host")
    return url


class SettingsError(Exception):
    """Configuration is missing or invalid. Names variables, never their values."""

    def __init__(
        self, missing: Sequence[str], invalid: Sequence[str], hint: str = "see .env.example"
    ) -> None:
        self.missing = tuple(missing)
        self.invalid = tuple(invalid)
        self.hint = hint
        lines = ["voicecore configuration is incomplete:"]
        if self.missing:
            lines.append("  missing: " + ", ".join(self.missing))
        if self.invalid:
            lines.append("  invalid: " + "; ".join(self.invalid))
        lines.append("  Set them in the environment or a .env file (see .env.example).")
        super().__init__("\n".join(lines))

    @classmethod
    def from_validation_error(cls, exc: ValidationError) -> SettingsError:
        missing: list[str] = []
        invalid: list[str] = []
        for error in exc.errors(include_input=False, include_url=False):
            name = str(error["loc"][0]).upper() if error["loc"] else "?"
            if error["type"] == "missing":
                missing.append(name)
            else:
                invalid.append(f"{name} ({error['msg']})")
        return cls(missing, invalid)

    @classmethod
    def combine(cls, errors: Sequence[SettingsError]) -> SettingsError:
        return cls(
            [name for e in errors for name in e.missing], [problem for e in errors for problem in e.invalid]
        )


class JournalSettings(BaseSettings):
    """Where the journal is and how it is kept: all `python -m voicecore_http migrate` needs."""

    # An empty variable (LIVEKIT_API_SECRET= in a copied .env.example) counts as unset.
    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    # The journal: every session's durable record. Unset: a SQLite file in the working
    # directory (DEFAULT_JOURNAL_FILE); postgresql://... for many replicas.
    journal_url: Annotated[SecretStr, AfterValidator(_check_journal_url)] | None = None
    # PostgreSQL's schema is migrated by `python -m voicecore_http migrate`, or at start with this.
    journal_migrate_on_start: bool = False
    # Ended records older than this are purged by one replica at a time; 0 keeps everything.
    journal_retention_days: Annotated[int, Field(ge=0, le=100 * 365)] = 90
    journal_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0

    def journal_location(self) -> str:
        """The journal's URL: JOURNAL_URL, or the embedded SQLite file in the working directory."""
        if self.journal_url is not None:
            return self.journal_url.get_secret_value()
        return f"sqlite:///{Path.cwd() / DEFAULT_JOURNAL_FILE}"


class AppWebhookSettings(AppWebhookFields, JournalSettings):
    """The app webhooks' settings and the journal's: all `python -m voicecore_http webhooks ...` needs."""


class VoiceCoreSettings(AppWebhookFields, JournalSettings):
    """voicecore's configuration: LiveKit, the session policy, the store, the guardrails, agents, metrics.

    And the journal's (JournalSettings), which the ``migrate`` command reads alone, and the
    app webhooks' (voicecore/webhook_config.py).
    """

    # Normalised once here: clients are handed exactly this value.
    livekit_url: Annotated[str, BeforeValidator(_strip), AfterValidator(_normalise_livekit_url)]
    livekit_api_key: Annotated[str, Field(min_length=1), AfterValidator(_no_surrounding_whitespace)]
    livekit_api_secret: Annotated[SecretStr, Field(min_length=1), AfterValidator(_livekit_secret)]
    livekit_agent_name: Annotated[str, Field(min_length=1)] | None = None
    livekit_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    # Probe LiveKit at start-up and refuse to start when it refuses our credentials
    # or the URL's TLS does not match the server (voicecore_http's lifespan).
    livekit_check_on_start: bool = False

    session_token_ttl_seconds: Annotated[int, Field(ge=60, le=24 * 3600)] = 6 * 3600
    session_empty_timeout_seconds: Annotated[int, Field(ge=1, le=24 * 3600)] = 300
    session_max_participants: Annotated[int, Field(ge=1, le=100)] = 2
    # How long a room survives its last participant leaving, so a restarted app can rejoin.
    session_departure_timeout_seconds: Annotated[int, Field(ge=1, le=24 * 3600)] = 120
    # None: the in-process store (one replica); a Redis URL shares sessions across replicas.
    session_store_url: Annotated[SecretStr, AfterValidator(_check_store_url)] | None = None
    # Guardrails on the paid agents behind every session; 0 turns one off.
    session_max_live_per_user: Annotated[int, Field(ge=0, le=1000)] = 3
    session_creates_per_minute: Annotated[int, Field(ge=0, le=100_000)] = 10
    # How often one replica repairs the session index from LiveKit; 0: only at start-up.
    session_reconcile_interval_seconds: Annotated[float, Field(ge=0, le=24 * 3600)] = 60.0
    # A user waiting longer than this with no agent makes the session `missing` (LiveKit's
    # agent starter gives its agent the same time in the browser).
    agent_join_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 20.0
    # How many times a session's agent may be dispatched again, by rejoins and the watchdog
    # together, across replicas (one budget per session in the store); 0: never (the watchdog
    # only reports).
    agent_redispatch_limit: Annotated[int, Field(ge=0, le=10)] = 3
    # How often one replica's watchdog looks for missing or departed agents; 0: never.
    agent_watchdog_interval_seconds: Annotated[float, Field(ge=0, le=3600)] = 5.0
    # /metrics in Prometheus' text format, and the counting behind it.
    metrics_enabled: bool = True

    # Bounds in time (docs/hosting.md): the server ends a session at its maximum length
    # (0: none), and a user's sessions when their minutes for the period are used up.
    session_max_duration_seconds: Annotated[int, Field(ge=0, le=7 * 24 * 3600)] = 3600
    # Minutes per period for every user, unless their own allowance says otherwise; 0: none.
    usage_limit_minutes: Annotated[int, Field(ge=0, le=10_000_000)] = 0
    # Calendar periods in UTC; a week starts on Monday.
    usage_period: UsagePeriod = UsagePeriod.MONTH
    # The bearer token's claim (or the host's user's attribute) that carries a user's own minutes.
    usage_limit_claim: Annotated[str, Field(min_length=1, max_length=100)] | None = None

    def bounds_policy(self) -> BoundsPolicy:
        return BoundsPolicy(
            max_duration_seconds=self.session_max_duration_seconds,
            usage_limit_minutes=self.usage_limit_minutes,
            usage_period=self.usage_period,
        )

    def guardrail_policy(self) -> GuardrailPolicy:
        return GuardrailPolicy(
            max_live_per_user=self.session_max_live_per_user,
            creates_per_minute=self.session_creates_per_minute,
        )

    def session_policy(self) -> SessionPolicy:
        return SessionPolicy(
            token_ttl=timedelta(seconds=self.session_token_ttl_seconds),
            empty_timeout_seconds=self.session_empty_timeout_seconds,
            max_participants=self.session_max_participants,
            agent_name=self.livekit_agent_name,
            departure_timeout_seconds=self.session_departure_timeout_seconds,
            agent_join_grace=timedelta(seconds=self.agent_join_timeout_seconds),
            agent_redispatch_limit=self.agent_redispatch_limit,
        )


S = TypeVar("S", bound=BaseSettings)
EnvFile = str | Path | None


def read_settings(cls: type[S], environ: Mapping[str, str] | None = None, *, env_file: EnvFile = None) -> S:
    """``cls`` from the environment (plus ``env_file``), or from ``environ`` alone.

    Raises SettingsError naming every missing or invalid variable, never a value.
    """
    try:
        if environ is None:
            return cls(_env_file=env_file)
        # Empty counts as unset, as it does in the environment.
        values = {k.lower(): v for k, v in environ.items() if v != "" and k.lower() in cls.model_fields}
        settings: S = _values_only(cls)(**values)
        return settings
    except ValidationError as exc:
        raise SettingsError.from_validation_error(exc) from None


@functools.cache
def _values_only(cls: type[S]) -> type[S]:
    """``cls`` reading nothing but the values it is given."""

    def sources(
        _: type[BaseSettings],
        /,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        **__: Any,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    return type(cls.__name__, (cls,), {"settings_customise_sources": classmethod(sources)})


def load_settings(environ: Mapping[str, str] | None = None, *, env_file: EnvFile = None) -> VoiceCoreSettings:
    return read_settings(VoiceCoreSettings, environ, env_file=env_file)


def load_journal_settings(
    environ: Mapping[str, str] | None = None, *, env_file: EnvFile = None
) -> JournalSettings:
    return read_settings(JournalSettings, environ, env_file=env_file)


def load_app_webhook_settings(
    environ: Mapping[str, str] | None = None, *, env_file: EnvFile = None
) -> AppWebhookSettings:
    return read_settings(AppWebhookSettings, environ, env_file=env_file)
