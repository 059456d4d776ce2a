"""SESSION_STORE_URL: unset means in-process; a Redis URL is validated and never echoed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.constants import TEST_API_SECRET as SECRET
from voicecore.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def livekit_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("LIVEKIT_", "SESSION_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("LIVEKIT_URL", "ws://127.0.0.1:7880")
    monkeypatch.setenv("LIVEKIT_API_KEY", "APIkey")
    monkeypatch.setenv("LIVEKIT_API_SECRET", SECRET)


@pytest.mark.parametrize("blank", [None, ""])
def test_unset_or_empty_means_the_in_process_store(
    monkeypatch: pytest.MonkeyPatch, blank: str | None
) -> None:
    if blank is not None:
        monkeypatch.setenv("SESSION_STORE_URL", blank)
    assert load_settings().session_store_url is None


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://:a-password@redis.internal:6380/0",
        "redis://user:a-password@localhost",
        "unix:///run/redis/redis.sock?db=2",
    ],
)
def test_redis_urls_are_accepted_and_kept_secret(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("SESSION_STORE_URL", url)
    configured = load_settings().session_store_url
    assert configured is not None
    assert configured.get_secret_value() == url
    assert "a-password" not in repr(configured)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://:a-password@redis.internal:6379", "redis://, rediss:// or unix://"),
        ("a-password", "redis://, rediss:// or unix://"),
        ("redis://", "needs a host"),
        ("unix://", "socket's path"),
    ],
)
def test_other_urls_are_refused_without_echoing_them(
    monkeypatch: pytest.MonkeyPatch, url: str, reason: str
) -> None:
    monkeypatch.setenv("SESSION_STORE_URL", url)
    with pytest.raises(SettingsError) as failure:
        load_settings()
    message = str(failure.value)
    assert "SESSION_STORE_URL" in message
    assert reason in message
    assert "a-password" not in message
