"""Configuration: required variables, validation, and no secret ever echoed."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.apps import service_container, serving
from tests.support.constants import BASE
from tests.support.constants import TEST_API_SECRET as SECRET
from tests.support.livekit import unique_user_id
from tests.support.tokens import auth_header
from voicecore.core.domain import SessionPolicy
from voicecore.settings import SettingsError, VoiceCoreSettings, load_settings
from voicecore.testing.livekit_server import LocalLiveKitServer

REQUIRED = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("LIVEKIT_", "SESSION_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_every_missing_variable_is_named_in_one_error() -> None:
    with pytest.raises(SettingsError) as failure:
        load_settings()
    message = str(failure.value)
    for name in REQUIRED:
        assert name in message
    assert ".env.example" in message


def test_one_missing_variable_is_named_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEKIT_URL", "ws://127.0.0.1:7880")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "s3cr3t-value-never-shown-0123456789")
    with pytest.raises(SettingsError) as failure:
        load_settings()
    assert "LIVEKIT_API_KEY" in str(failure.value)
    assert "LIVEKIT_URL" not in str(failure.value)
    assert "s3cr3t-value-never-shown-0123456789" not in str(failure.value)
    assert failure.value.__cause__ is None
    assert failure.value.__suppress_context__


@pytest.mark.parametrize(
    "url", ["ws://127.0.0.1:7880", "wss://my-project.livekit.cloud", "http://lk:7880", "https://lk.example"]
)
def test_livekit_cloud_and_self_hosted_urls_are_accepted_as_given(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("LIVEKIT_URL", url)
    monkeypatch.setenv("LIVEKIT_API_KEY", "key")
    monkeypatch.setenv("LIVEKIT_API_SECRET", SECRET)
    assert load_settings().livekit_url == url


@pytest.mark.parametrize("url", ["ftp://lk", "lk:7880", "ws://", "wss://user:s3cr3tpw@lk.cloud", ""])
def test_bad_urls_are_refused_without_echoing_them(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("LIVEKIT_URL", url)
    monkeypatch.setenv("LIVEKIT_API_KEY", "key")
    monkeypatch.setenv("LIVEKIT_API_SECRET", SECRET)
    with pytest.raises(SettingsError, match="LIVEKIT_URL") as failure:
        load_settings()
    assert "s3cr3tpw" not in str(failure.value)


def test_the_secret_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEKIT_URL", "ws://127.0.0.1:7880")
    monkeypatch.setenv("LIVEKIT_API_KEY", "key")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "s3cr3t-value-never-shown-0123456789")
    settings = load_settings()
    assert "s3cr3t-value-never-shown-0123456789" not in repr(settings)
    assert "s3cr3t-value-never-shown-0123456789" not in str(settings.model_dump())
    assert settings.livekit_api_secret.get_secret_value() == "s3cr3t-value-never-shown-0123456789"


def test_policy_defaults_are_the_product_requirements(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEKIT_URL", "ws://127.0.0.1:7880")
    monkeypatch.setenv("LIVEKIT_API_KEY", "key")
    monkeypatch.setenv("LIVEKIT_API_SECRET", SECRET)
    assert load_settings().session_policy() == SessionPolicy(
        token_ttl=timedelta(hours=6),
        empty_timeout_seconds=300,
        max_participants=2,
        agent_name=None,
        departure_timeout_seconds=120,  # a restarted phone app can still rejoin (docs/livekit.md)
    )


def test_values_come_from_a_dotenv_file_and_policy_is_configurable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        f"LIVEKIT_URL=wss://x.livekit.cloud\nLIVEKIT_API_KEY=k\nLIVEKIT_API_SECRET={SECRET}\n"
        "LIVEKIT_AGENT_NAME=coach\nSESSION_TOKEN_TTL_SECONDS=3600\nSESSION_MAX_PARTICIPANTS=3\n"
    )
    settings = load_settings(env_file=tmp_path / ".env")
    policy = settings.session_policy()
    assert (policy.token_ttl, policy.max_participants, policy.agent_name) == (timedelta(hours=1), 3, "coach")


def test_out_of_range_policy_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEKIT_URL", "ws://127.0.0.1:7880")
    monkeypatch.setenv("LIVEKIT_API_KEY", "key")
    monkeypatch.setenv("LIVEKIT_API_SECRET", SECRET)
    monkeypatch.setenv("SESSION_MAX_PARTICIPANTS", "0")
    with pytest.raises(SettingsError, match="SESSION_MAX_PARTICIPANTS"):
        load_settings()


@pytest.mark.parametrize(("value", "accepted"), [("1", 1), ("600", 600), ("0", None), ("86401", None)])
def test_the_departure_timeout_is_a_setting(value: str, accepted: int | None) -> None:
    environ = {
        "LIVEKIT_URL": "ws://127.0.0.1:7880",
        "LIVEKIT_API_KEY": "key",
        "LIVEKIT_API_SECRET": SECRET,
        "SESSION_DEPARTURE_TIMEOUT_SECONDS": value,
    }
    if accepted is None:
        with pytest.raises(SettingsError, match="SESSION_DEPARTURE_TIMEOUT_SECONDS"):
            load_settings(environ)
    else:
        assert load_settings(environ).session_policy().departure_timeout_seconds == accepted


def test_empty_values_count_as_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # What a copied .env.example with blanks looks like.
    (tmp_path / ".env").write_text("LIVEKIT_URL=ws://127.0.0.1:7880\nLIVEKIT_API_KEY=\nLIVEKIT_API_SECRET=\n")
    monkeypatch.setenv("LIVEKIT_API_KEY", "")
    with pytest.raises(SettingsError) as failure:
        load_settings(env_file=".env")
    assert failure.value.missing == ("LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")


def test_a_dotenv_file_is_read_only_when_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        f"LIVEKIT_URL=ws://127.0.0.1:7880\nLIVEKIT_API_KEY=k\nLIVEKIT_API_SECRET={SECRET}\n"
    )
    with pytest.raises(SettingsError) as failure:
        load_settings()
    assert failure.value.missing == REQUIRED
    assert load_settings(env_file=".env").livekit_api_key == "k"
    monkeypatch.setenv("LIVEKIT_API_KEY", "from-the-environment")
    assert load_settings(env_file=".env").livekit_api_key == "from-the-environment"  # the environment wins


def test_a_mapping_is_read_alone_never_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in REQUIRED:
        monkeypatch.setenv(name, "ws://exported.example" if name == "LIVEKIT_URL" else "exported")
    monkeypatch.setenv("SESSION_MAX_PARTICIPANTS", "7")
    settings = load_settings(
        {"LIVEKIT_URL": "ws://given:7880", "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": SECRET}
    )
    assert (settings.livekit_url, settings.livekit_api_key, settings.session_max_participants) == (
        "ws://given:7880",
        "k",
        2,
    )
    assert isinstance(settings, VoiceCoreSettings)
    with pytest.raises(SettingsError) as failure:
        load_settings({"LIVEKIT_URL": "ws://given:7880", "LIVEKIT_API_KEY": ""})
    assert failure.value.missing == ("LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")


# --- LIVEKIT_URL, normalised once ----------------------------------------------------


_HOSTS = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}(\.[A-Za-z][A-Za-z0-9-]{0,10}){0,3}", fullmatch=True)


@given(
    scheme=st.sampled_from(["ws", "WSS", "Http", "https"]),
    host=_HOSTS,
    port=st.none() | st.integers(min_value=1, max_value=65535),
    slashes=st.integers(min_value=0, max_value=3),
    padding=st.tuples(st.sampled_from(["", " ", "\t", "\n "]), st.sampled_from(["", " ", "\r\n"])),
)
def test_the_url_is_normalised_once_and_for_all(
    scheme: str, host: str, port: int | None, slashes: int, padding: tuple[str, str]
) -> None:
    url = f"{padding[0]}{scheme}://{host}{f':{port}' if port else ''}{'/' * slashes}{padding[1]}"
    settings = load_settings({"LIVEKIT_URL": url, "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": SECRET})
    normal = settings.livekit_url
    assert normal == f"{scheme.lower()}://{host.lower()}{f':{port}' if port else ''}"
    again = load_settings({"LIVEKIT_URL": normal, "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": SECRET})
    assert again.livekit_url == normal


@pytest.mark.parametrize("url", ["ws://live kit:7880", "ws://livekit\t:7880", "ws://livekit:7880/\x00"])
def test_whitespace_or_controls_inside_the_url_are_refused(url: str) -> None:
    with pytest.raises(SettingsError, match="LIVEKIT_URL"):
        load_settings({"LIVEKIT_URL": url, "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": SECRET})


async def test_clients_get_the_trimmed_and_normalised_url(livekit_server: LocalLiveKitServer) -> None:
    given_url = f"  \tWS://127.0.0.1:{livekit_server.http_port}/ \n"
    container = service_container(given_url, livekit_server.api_key, livekit_server.api_secret)
    headers = auth_header(unique_user_id("url"))
    async with serving(container) as client:
        created = await client.post(BASE, json={}, headers=headers)
        assert created.status_code == 201, created.text
        assert created.json()["livekit_url"] == livekit_server.url
        ended = await client.delete(f"{BASE}/{created.json()['room_name']}", headers=headers)
        assert ended.status_code == 200
