"""The app-webhook settings (APP_WEBHOOK_*): the endpoint, its secrets and the retry schedule.

``AppWebhookFields`` is mixed into voicecore.settings' classes; messages never quote a secret.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Final
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from voicecore.core.delivery_policy import DEFAULT_RETRY_SCHEDULE, RetrySchedule

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the form's prefix, not a secret
# The Standard Webhooks specification: a secret is 24 to 64 random bytes.
SECRET_BYTES: Final = (24, 64)
MAX_TRIES: Final = 50
MAX_DELAY_SECONDS: Final = 7 * 24 * 3600
DEFAULT_SCHEDULE_TEXT: Final = ",".join(f"{delay:g}" for delay in DEFAULT_RETRY_SCHEDULE)


def check_webhook_url(url: str) -> str:
    """An http:// or https:// URL with a host; no credentials (events are signed) and no fragment."""
    if any(character.isspace() or not character.isprintable() for character in url):
        raise ValueError("must not contain whitespace or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials: events are signed with APP_WEBHOOK_SECRET")
    if parts.fragment:
        raise ValueError("must not carry a fragment")
    return url


def webhook_secrets(value: SecretStr) -> tuple[str, ...]:
    """The secrets events are signed with: space-separated, each in the ``whsec_`` form."""
    return tuple(value.get_secret_value().split())


def check_webhook_secrets(value: SecretStr) -> SecretStr:
    secrets = webhook_secrets(value)
    if not secrets:
        raise ValueError("must hold at least one whsec_ secret")
    low, high = SECRET_BYTES
    for position, secret in enumerate(secrets, start=1):
        if not secret.startswith(SECRET_PREFIX):
            raise ValueError(
                f"secret {position} must start with {SECRET_PREFIX} (the Standard Webhooks form)"
            )
        encoded = secret.removeprefix(SECRET_PREFIX)
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"secret {position} must be {SECRET_PREFIX} and then base64") from None
        if not low <= len(key) <= high:
            raise ValueError(f"secret {position} must be {low} to {high} bytes once base64-decoded")
    return value


def check_retry_schedule(text: str) -> str:
    parse_retry_schedule(text)
    return text


def parse_retry_schedule(text: str) -> RetrySchedule:
    """``0,5,300``: seconds before each try, the first (immediate, 0) right after the event's commit."""
    try:
        delays = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ValueError("must be comma-separated seconds, such as 0,5,300") from None
    if len(delays) > MAX_TRIES:
        raise ValueError(f"must have at most {MAX_TRIES} tries")
    if any(not 0 <= delay <= MAX_DELAY_SECONDS for delay in delays):  # NaN fails this too
        raise ValueError(f"each delay must be from 0 to {MAX_DELAY_SECONDS} seconds")
    if delays[0] != 0:
        raise ValueError("must start with 0: the first try is right after the event's commit")
    return RetrySchedule(delays)


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class AppWebhookFields(BaseSettings):
    """APP_WEBHOOK_*: unset, no events are kept; set, every event is signed and sent (docs/webhooks.md)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    app_webhook_url: Annotated[str, BeforeValidator(_strip), AfterValidator(check_webhook_url)] | None = None
    # One or more whsec_ secrets, space-separated: each signs every event, so a key can rotate.
    app_webhook_secret: Annotated[SecretStr | None, Field(validate_default=True)] = None
    app_webhook_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    # Seconds before each try, comma-separated; the first (0) is right after the commit.
    app_webhook_retry_schedule_seconds: Annotated[str, AfterValidator(check_retry_schedule)] = (
        DEFAULT_SCHEDULE_TEXT
    )

    @field_validator("app_webhook_secret")
    @classmethod
    def _secret_goes_with_the_url(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        url_given = info.data.get("app_webhook_url") is not None
        if value is None:
            if url_given:
                raise ValueError("is required when APP_WEBHOOK_URL is set: every event is signed")
            return None
        if not url_given and "app_webhook_url" in info.data:
            raise ValueError("is set but APP_WEBHOOK_URL is not: no event would be kept or sent")
        return check_webhook_secrets(value)

    @property
    def app_webhooks_enabled(self) -> bool:
        return self.app_webhook_url is not None

    def app_webhook_secrets(self) -> tuple[str, ...]:
        return () if self.app_webhook_secret is None else webhook_secrets(self.app_webhook_secret)

    def app_webhook_schedule(self) -> RetrySchedule:
        return parse_retry_schedule(self.app_webhook_retry_schedule_seconds)
