"""Targets: each service under test gets exactly its own settings, read through the composition root."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import targets
from bench.service import ServiceProcess
from bench.targets import LiveKitAccess, Target, parse_target, service_environment
from voicecore_http.container import ServiceContainer

LIVEKIT = LiveKitAccess("ws://127.0.0.1:7880", "APIbench", "a-livekit-secret-long-enough-for-tests")
AUTH_SECRET = "an-auth-secret-of-at-least-thirty-two-characters"
STORE_URL = "redis://127.0.0.1:6390/3"


def test_the_composition_root_reads_a_redis_target_s_settings() -> None:
    target = Target("api_redis", "Redis store", store="redis", log_level="WARNING")
    container = ServiceContainer.from_environment(
        service_environment(target, LIVEKIT, AUTH_SECRET, STORE_URL)
    )
    settings = container.settings()
    store_url = settings.session_store_url
    assert store_url is not None
    assert store_url.get_secret_value() == STORE_URL
    assert settings.livekit_url == LIVEKIT.url
    assert container.http_settings().log_level == "WARNING"


def test_a_memory_target_names_no_store() -> None:
    container = ServiceContainer.from_environment(
        service_environment(Target("api", "in-process"), LIVEKIT, AUTH_SECRET)
    )
    assert container.settings().session_store_url is None


def test_a_redis_target_without_a_store_is_refused() -> None:
    with pytest.raises(ValueError, match="store URL"):
        service_environment(Target("api_redis", "Redis store", store="redis"), LIVEKIT, AUTH_SECRET)


def test_a_target_s_own_variables_win_and_an_empty_one_restores_the_default() -> None:
    target = Target(
        "api_capped", "", env={"SESSION_MAX_LIVE_PER_USER": "", "SESSION_EMPTY_TIMEOUT_SECONDS": "42"}
    )
    env = service_environment(target, LIVEKIT, AUTH_SECRET)
    assert env["SESSION_MAX_LIVE_PER_USER"] == ""
    assert env["SESSION_CREATES_PER_MINUTE"] == targets.BULK_PHASE_ENV["SESSION_CREATES_PER_MINUTE"]
    settings = ServiceContainer.from_environment(env).settings()
    assert settings.session_empty_timeout_seconds == 42


def test_the_service_process_gets_nothing_else_from_the_shell(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in {
        "LIVEKIT_AGENT_NAME": "from-the-shell",
        "SESSION_STORE_URL": "redis://elsewhere.invalid/0",
        "AUTH_JWT_SECRET": "x" * 40,
        "PYTHONPATH": "/somewhere",
    }.items():
        monkeypatch.setenv(name, value)
    settings = service_environment(Target("api", "in-process"), LIVEKIT, AUTH_SECRET)
    env = ServiceProcess("api", settings, tmp_path / "service.log").environment()
    assert {k: v for k, v in env.items() if k in settings} == settings
    assert "LIVEKIT_AGENT_NAME" not in env
    assert "SESSION_STORE_URL" not in env
    assert "PYTHONPATH" not in env


def test_every_target_lists_as_a_user_of_its_own(tmp_path: Path) -> None:
    served = [*targets.standard_targets(tmp_path), *targets.counted_targets(), parse_target("limits:X=1")]
    users = [t.user_id for t in served]
    assert len(set(users)) == len(users)


@pytest.mark.parametrize(
    ("spec", "name", "store", "env"),
    [
        ("limits:SESSION_MAX_LIVE_PER_USER=3", "api_limits", "memory", {"SESSION_MAX_LIVE_PER_USER": "3"}),
        ("guard+redis:A=1,B=", "api_guard", "redis", {"A": "1", "B": ""}),
        ("plain", "api_plain", "memory", {}),
    ],
)
def test_target_specs(spec: str, name: str, store: str, env: dict[str, str]) -> None:
    target = parse_target(spec)
    assert (target.name, target.store, dict(target.env)) == (name, store, env)


@pytest.mark.parametrize("spec", ["", ":A=1", "x+mongo:A=1", "x:A", "x:=1"])
def test_malformed_target_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match=r"expected|is not"):
        parse_target(spec)
