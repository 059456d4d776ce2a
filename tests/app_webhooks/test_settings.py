"""APP_WEBHOOK_*: read and checked once, with messages that name the variable and never echo a secret."""

from __future__ import annotations

import base64

import pytest

from tests.support.constants import TEST_API_SECRET
from tests.support.webhook_receiver import new_secret
from voicecore.container import VoiceCoreContainer
from voicecore.core.delivery_policy import RetrySchedule
from voicecore.settings import SettingsError, VoiceCoreSettings, load_settings

LIVEKIT = {
    "LIVEKIT_URL": "ws://127.0.0.1:7880",
    "LIVEKIT_API_KEY": "key",
    "LIVEKIT_API_SECRET": TEST_API_SECRET,
}
URL = "https://app.example.com/hooks/voicecore"
# A fixed well-formed secret where it names a parameter: test IDs must be the same in every
# process that collects them (pytest-xdist compares its workers' collections).
WELL_FORMED_SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()


def settings(**variables: str) -> VoiceCoreSettings:
    return load_settings({**LIVEKIT, **variables})


def refused(**variables: str) -> str:
    with pytest.raises(SettingsError) as failure:
        settings(**variables)
    return str(failure.value)


def test_unset_means_no_events_are_kept() -> None:
    configured = settings()
    assert not configured.app_webhooks_enabled
    assert configured.app_webhook_secrets() == ()


def test_the_defaults_are_the_issues() -> None:
    configured = settings(APP_WEBHOOK_URL=URL, APP_WEBHOOK_SECRET=new_secret())
    assert configured.app_webhooks_enabled
    assert configured.app_webhook_timeout_seconds == 10
    assert configured.app_webhook_schedule() == RetrySchedule((0, 5, 300, 1800, 7200, 18000, 36000, 36000))


def test_several_secrets_are_space_separated_and_each_signs() -> None:
    old, new = new_secret(), new_secret()
    configured = settings(APP_WEBHOOK_URL=URL, APP_WEBHOOK_SECRET=f"  {old}   {new} ")
    assert configured.app_webhook_secrets() == (old, new)


def test_a_compressed_schedule_for_tests() -> None:
    configured = settings(
        APP_WEBHOOK_URL=URL, APP_WEBHOOK_SECRET=new_secret(), APP_WEBHOOK_RETRY_SCHEDULE_SECONDS="0, 0.2,0.5"
    )
    assert configured.app_webhook_schedule().delays == (0, 0.2, 0.5)


def test_a_url_without_a_secret_is_a_configuration_error() -> None:
    message = refused(APP_WEBHOOK_URL=URL)
    assert "APP_WEBHOOK_SECRET" in message
    assert "required when APP_WEBHOOK_URL is set" in message


def test_a_secret_without_a_url_is_a_configuration_error_and_is_not_echoed() -> None:
    secret = new_secret()
    message = refused(APP_WEBHOOK_SECRET=secret)
    assert "APP_WEBHOOK_URL is not" in message
    assert secret not in message


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("s3cr3t-but-not-in-the-whsec-form-0123456789", "must start with whsec_"),
        (WELL_FORMED_SECRET + " second-secret-without-its-prefix", "secret 2 must start with whsec_"),
        ("whsec_***not-base64***", "whsec_ and then base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 bytes"),
        ("whsec_" + base64.b64encode(bytes(65)).decode(), "24 to 64 bytes"),
    ],
)
def test_secrets_not_in_the_standard_webhooks_form_are_refused_without_echoing(
    secret: str, problem: str
) -> None:
    message = refused(APP_WEBHOOK_URL=URL, APP_WEBHOOK_SECRET=secret)
    assert "APP_WEBHOOK_SECRET" in message
    assert problem in message
    assert secret not in message


def test_a_secret_with_its_padding_left_off_is_accepted() -> None:
    unpadded = new_secret().rstrip("=")
    assert settings(APP_WEBHOOK_URL=URL, APP_WEBHOOK_SECRET=unpadded).app_webhook_secrets() == (unpadded,)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://app.example.com/hooks", "http:// or https://"),
        ("https:///hooks", "with a host"),
        ("https://user:pw@app.example.com/hooks", "must not carry credentials"),
        ("https://app.example.com/hooks#frag", "fragment"),
        ("https://app.example.com/ho oks", "whitespace"),
    ],
)
def test_bad_urls_are_refused(url: str, problem: str) -> None:
    message = refused(APP_WEBHOOK_URL=url, APP_WEBHOOK_SECRET=new_secret())
    assert "APP_WEBHOOK_URL" in message
    assert problem in message


@pytest.mark.parametrize(
    ("schedule", "problem"),
    [
        ("5,10", "must start with 0"),
        ("0,5,soon", "comma-separated seconds"),
        ("0,-5", "from 0 to"),
        ("0,nan", "from 0 to"),
        ("0,inf", "from 0 to"),
        (",".join(["0"] * 51), "at most 50 tries"),
    ],
)
def test_bad_schedules_are_refused(schedule: str, problem: str) -> None:
    message = refused(
        APP_WEBHOOK_URL=URL, APP_WEBHOOK_SECRET=new_secret(), APP_WEBHOOK_RETRY_SCHEDULE_SECONDS=schedule
    )
    assert "APP_WEBHOOK_RETRY_SCHEDULE_SECONDS" in message
    assert problem in message


@pytest.mark.parametrize("timeout", ["0", "-1", "301", "soon"])
def test_bad_timeouts_are_refused(timeout: str) -> None:
    message = refused(
        APP_WEBHOOK_URL=URL, APP_WEBHOOK_SECRET=new_secret(), APP_WEBHOOK_TIMEOUT_SECONDS=timeout
    )
    assert "APP_WEBHOOK_TIMEOUT_SECONDS" in message


def test_the_container_keeps_events_only_with_an_endpoint() -> None:
    assert not VoiceCoreContainer.from_settings(settings()).app_events().enabled
    enabled = VoiceCoreContainer.from_settings(settings(APP_WEBHOOK_URL=URL, APP_WEBHOOK_SECRET=new_secret()))
    assert enabled.app_events().enabled
