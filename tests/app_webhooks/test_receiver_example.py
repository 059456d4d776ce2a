"""docs/examples/webhook_receiver.py, run as written: it verifies, dedupes and prints what voicecore sends.

voicecore signs with two secrets (a key rotating) and the example knows only the
new one; forged and repeated requests are sent to it by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.support.journals import sqlite_journal_url
from tests.support.webhook_receiver import new_secret
from tests.support.webhook_service import webhook_service, webhook_settings
from voicecore.testing.livekit_server import LocalLiveKitServer
from voicecore.testing.processes import free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "webhook_receiver.py"
PATH = "/webhooks/voicecore"


class RunningExample:
    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}{PATH}"
        self.lines: list[str] = []

    async def next_line(self, within: float = 30.0) -> str:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), within)
        assert line, "the example ended"
        self.lines.append(line.decode().rstrip("\n"))
        return self.lines[-1]


@contextlib.asynccontextmanager
async def running_example(secret: str, cwd: Path) -> AsyncIterator[RunningExample]:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("APP_WEBHOOK_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        "--port",
        str(port),
        env={**environ, "APP_WEBHOOK_SECRET": secret},
        cwd=cwd,  # not the repository: the installed package is what is imported
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    await http.get(f"http://127.0.0.1:{port}/docs")
                    break
                assert process.returncode is None, "the example exited"
                await asyncio.sleep(0.05)
        yield RunningExample(process, port)
    finally:
        process.terminate()
        await process.wait()


@pytest.mark.livekit
async def test_the_example_prints_each_verified_event_once_and_refuses_forgeries(
    webhook_livekit: LocalLiveKitServer, tmp_path: Path
) -> None:
    old, new = new_secret(), new_secret()
    async with running_example(new, tmp_path) as example:
        settings = webhook_settings(example.url, f"{old} {new}")
        async with webhook_service(webhook_livekit, sqlite_journal_url(tmp_path), settings) as service:
            user, room = await service.start_session()
            assert await example.next_line() == f"verified session.started {room} #1 user={user}"
            await service.end_session(user, room)
            ended = await example.next_line()
            assert ended.startswith(
                f"verified session.ended {room} #2 user={user} reason=user_ended duration="
            )

        async with httpx.AsyncClient() as http:
            body = '{"type":"session.started"}'
            forged = await http.post(
                example.url, content=body, headers=signed(new_secret(), "evt_forged", body)
            )
            assert forged.status_code == 401
            # The same event again, as a retry would bring it: acknowledged, not handled twice.
            first_body = (
                '{"data":{"active":true,"agent_joined_at":null,"agent_type":"diet",'
                '"created_at":"2031-03-01T12:00:00+00:00","duration_seconds":0.0,"end_approximate":false,'
                '"end_reason":null,"ended_at":null,"room_name":"r1","sequence":1,"user_id":"u1"},'
                '"timestamp":"2031-03-01T12:00:00+00:00","type":"session.started"}'
            )
            for _ in range(2):
                again = await http.post(
                    example.url, content=first_body, headers=signed(new, "evt_1", first_body)
                )
                assert again.status_code == 204
        assert await example.next_line() == "verified session.started r1 #1 user=u1"
    assert example.process.stdout is not None
    assert await example.process.stdout.read() == b""  # nothing more: not the forgery, not the repeat


def signed(secret: str, webhook_id: str, body: str) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, now, body),
    }


def test_the_example_type_checks_as_a_users_script(tmp_path: Path) -> None:
    script = tmp_path / EXAMPLE.name
    shutil.copy(EXAMPLE, script)
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)],
        cwd=tmp_path,  # outside the repository: mypy must find voicecore where it is installed
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
