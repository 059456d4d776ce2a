"""The library as the docs show it: each example runs as written, and type-checks as a user's script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from voicecore.testing.livekit_server import LocalLiveKitServer

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
USER_ID = "auth0|64f1c2"  # an identity provider's id: escaped in the room name


def run_example(name: str, server: LocalLiveKitServer, cwd: Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "SESSION_"))}
    environ |= {
        "LIVEKIT_URL": server.url,
        "LIVEKIT_API_KEY": server.api_key,
        "LIVEKIT_API_SECRET": server.api_secret,
    }
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), USER_ID],
        env=environ,
        cwd=cwd,  # not the repository: the installed package is what is imported
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_plain_asyncio_example_runs_a_session_through(
    livekit_server: LocalLiveKitServer, tmp_path: Path
) -> None:
    done = run_example("plain_asyncio.py", livekit_server, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    room = lines[0].split()[1].rstrip(":")
    assert room.startswith("fitness-voice-auth0~7C64f1c2-")
    assert lines[1] == "participants: 0, agent connected: False"
    assert lines[2] == f"live sessions: ['{room}']"
    assert lines[3] == f"ended {room}"


def test_the_synchronous_example_keeps_one_loop(livekit_server: LocalLiveKitServer, tmp_path: Path) -> None:
    done = run_example("sync_framework.py", livekit_server, tmp_path)
    assert done.returncode == 0, done.stderr
    started, ended = done.stdout.splitlines()
    assert started.startswith("started fitness-voice-auth0~7C64f1c2-")
    assert ended == "ended " + started.removeprefix("started ")


@pytest.mark.parametrize("name", ["plain_asyncio.py", "sync_framework.py", "host_backend.py"])
def test_a_users_script_type_checks_against_the_installed_package(name: str, tmp_path: Path) -> None:
    script = tmp_path / name
    shutil.copy(EXAMPLES / name, script)
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)],
        cwd=tmp_path,  # outside the repository: mypy must find voicecore where it is installed
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
