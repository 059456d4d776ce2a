"""Start-up refuses incomplete configuration: a real subprocess, its exit code and output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.service_process import run_to_its_end

REQUIRED = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "AUTH_JWT_SECRET")
SECRET_VALUE = "s3cr3t-that-must-never-be-printed-0123456789"


def run_service(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in REQUIRED and not k.startswith("SESSION_")}
    return subprocess.run(
        [sys.executable, "-m", "voicecore_http", "--port", "0", *args],
        env={**clean, **env},
        cwd=tmp_path,  # no .env here
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_nothing_configured_names_every_missing_variable(tmp_path: Path) -> None:
    result = run_service(tmp_path)
    assert result.returncode == 2
    for name in REQUIRED:
        assert name in result.stderr
    assert ".env.example" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("missing", ["LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"])
def test_each_missing_livekit_variable_is_named_and_no_secret_printed(tmp_path: Path, missing: str) -> None:
    env = {
        "LIVEKIT_URL": "wss://example.livekit.cloud",
        "LIVEKIT_API_KEY": "APIkey",
        "LIVEKIT_API_SECRET": SECRET_VALUE,
        "AUTH_JWT_SECRET": SECRET_VALUE + "-auth",
    }
    del env[missing]
    result = run_service(tmp_path, **env)
    assert result.returncode == 2
    assert f"missing: {missing}" in result.stderr
    assert SECRET_VALUE not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_an_invalid_value_is_named_without_its_value(tmp_path: Path) -> None:
    result = run_service(
        tmp_path,
        LIVEKIT_URL="ftp://user:" + SECRET_VALUE + "@host",
        LIVEKIT_API_KEY="APIkey",
        LIVEKIT_API_SECRET=SECRET_VALUE,
        AUTH_JWT_SECRET="short",
    )
    assert result.returncode == 2
    assert "LIVEKIT_URL" in result.stderr
    assert "AUTH_JWT_SECRET" in result.stderr
    assert SECRET_VALUE not in result.stderr + result.stdout
    assert "short" not in result.stderr.replace("should have at least", "")


@pytest.mark.parametrize(
    "secret", ["x", "a-31-character-secret-0123456789"[:31], "a-secret-with-a-trailing-newline-0123456789\n"]
)
def test_a_weak_or_padded_livekit_secret_is_refused_naming_the_variable_not_the_value(
    tmp_path: Path, secret: str
) -> None:
    result = run_to_its_end(
        tmp_path, LIVEKIT_URL="ws://127.0.0.1:7880", LIVEKIT_API_KEY="APIkey", LIVEKIT_API_SECRET=secret
    )
    assert result.returncode == 2
    assert "LIVEKIT_API_SECRET" in result.stderr
    if len(secret) > 1:
        assert secret.strip() not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_a_settings_file_is_read_only_when_named(tmp_path: Path) -> None:
    livekit = f"LIVEKIT_URL=wss://example.livekit.cloud\nLIVEKIT_API_KEY=APIkey\nLIVEKIT_API_SECRET={SECRET_VALUE}\n"
    (tmp_path / "voicecore.env").write_text(livekit)
    (tmp_path / ".env").write_text(livekit)  # where the service runs, and never read unless named
    named = run_service(tmp_path, "--env-file", "voicecore.env")
    unnamed = run_service(tmp_path)
    assert (named.returncode, unnamed.returncode) == (2, 2)
    assert "missing: AUTH_JWT_SECRET" in named.stderr  # the file gave the LiveKit settings...
    assert not any(name in named.stderr for name in REQUIRED[:3])
    assert all(name in unnamed.stderr for name in REQUIRED)  # ...and .env alone gave nothing
    assert SECRET_VALUE not in named.stderr + named.stdout + unnamed.stderr + unnamed.stdout
