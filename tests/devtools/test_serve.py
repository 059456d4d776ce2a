"""``make serve``: a banner with all it takes to try the API by hand, a port check first, no leftovers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.constants import BASE
from voicecore.testing.processes import free_port

REPO = Path(__file__).resolve().parents[2]
BANNER_END = "A token for any other user"


def serve(port: int, cwd: Path) -> subprocess.Popen[str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            (
                "LIVEKIT_URL",
                "LIVEKIT_API_",
                "AUTH_JWT_",
                "SESSION_",
                "LOG_",
                "HTTP_",
                "APP_WEBHOOK_",
                "JOURNAL_",
            )
        )
    }
    environ["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [sys.executable, "-m", "devtools.serve", "--port", str(port)],
        cwd=cwd,  # no .env here
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_banner(process: subprocess.Popen[str]) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if BANNER_END in line:
            lines.append(process.stdout.readline().rstrip("\n"))  # the command itself
            return lines
    raise AssertionError(f"no banner; stderr:\n{process.stderr.read() if process.stderr else ''}")


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in map(int, children):
            found |= {child, *descendants(child)}
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, list[str]]]:
    port = free_port()
    process = serve(port, tmp_path)
    try:
        yield process, port, read_banner(process)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)  # reaps it and closes its pipes


def wait_until_serving(port: int) -> None:
    """The banner comes just before uvicorn listens; fails, saying so, if it never answers."""
    deadline = time.monotonic() + 30
    answer: object = None
    with httpx.Client(timeout=2) as http:
        while time.monotonic() < deadline:
            try:
                answer = http.get(f"http://127.0.0.1:{port}/healthz").status_code
            except httpx.TransportError as exc:
                answer = exc
            if answer == 200:
                return
            time.sleep(0.1)
    raise AssertionError(f"make serve never answered /healthz with 200 on port {port}; last: {answer!r}")


def value_after(lines: list[str], label: str) -> str:
    return next(line.split()[-1] for line in lines if line.strip().startswith(label))


def test_the_banner_has_what_it_takes_to_try_the_api_as_two_users(
    served: tuple[subprocess.Popen[str], int, list[str]],
) -> None:
    _, port, banner = served
    assert any(line.startswith(f"voicecore API      http://127.0.0.1:{port}") for line in banner)
    assert value_after(banner, "LIVEKIT_API_KEY").startswith("APIdev")
    assert len(value_after(banner, "LIVEKIT_API_SECRET")) >= 32
    # The journal is kept from the first start, in the working directory, with no setup.
    journal = next(line for line in banner if line.startswith("Journal"))
    assert journal.endswith("voicecore-journal.sqlite3 (JOURNAL_URL to change)")
    jwt_secret = value_after(banner, "AUTH_JWT_SECRET")
    token = next(line.split("=", 1)[1] for line in banner if "export TOKEN=" in line)
    mint = banner[-1].strip()
    assert mint == f"AUTH_JWT_SECRET={jwt_secret} .venv/bin/python -m devtools.token alice"

    alice = subprocess.run(
        [sys.executable, "-m", "devtools.token", "alice"],
        env={**os.environ, "AUTH_JWT_SECRET": jwt_secret, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    base = f"http://127.0.0.1:{port}{BASE}"
    wait_until_serving(port)
    with httpx.Client(timeout=10) as http:
        created = http.post(
            base, json={"agent_type": "workout"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert created.status_code == 201, created.text
        room = created.json()["room_name"]
        refused = http.get(f"{base}/{room}", headers={"Authorization": f"Bearer {alice}"})
        assert refused.status_code == 403
        # The journal was kept from the first start, where the banner said, with no setup.
        assert Path(journal.split("SQLite, ")[1].split(" (")[0]).is_file()
        record = http.get(f"{base}/history/{room}", headers={"Authorization": f"Bearer {token}"})
        assert (record.status_code, record.json()["active"]) == (200, True)


AGENT_JOIN_DEADLINE_S = 30


def test_a_session_from_the_banner_is_told_to_the_development_webhook_receiver(
    served: tuple[subprocess.Popen[str], int, list[str]],
) -> None:
    process, port, banner = served
    receiver = next(line for line in banner if line.startswith("App webhooks       development receiver at "))
    assert receiver.split()[-1].startswith("http://127.0.0.1:")
    assert any("it prints here each session event it verified" in line for line in banner)
    assert value_after(banner, "APP_WEBHOOK_SECRET").startswith("whsec_")
    printed = following_lines(process)
    token = next(line.split("=", 1)[1] for line in banner if "export TOKEN=" in line)
    wait_until_serving(port)
    with httpx.Client(timeout=10) as http:
        created = http.post(
            f"http://127.0.0.1:{port}{BASE}",
            json={"agent_type": "diet"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201, created.text
    room = created.json()["room_name"]
    expected = f"verified session.started {room} #1 user=dev-user"
    deadline = time.monotonic() + 30
    while expected not in printed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert expected in printed, printed


def following_lines(process: subprocess.Popen[str]) -> list[str]:
    """What make serve prints from now on, collected by a thread of its own."""
    lines: list[str] = []

    def collect() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))

    threading.Thread(target=collect, daemon=True).start()
    return lines


def test_a_session_from_the_banner_shows_the_dev_agent_joining(
    served: tuple[subprocess.Popen[str], int, list[str]],
) -> None:
    _, port, banner = served
    assert any(line.startswith("Agent worker       running as 'voicecore-dev-coach'") for line in banner)
    token = next(line.split("=", 1)[1] for line in banner if "export TOKEN=" in line)
    auth = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{port}{BASE}"
    wait_until_serving(port)
    with httpx.Client(timeout=10) as http:
        created = http.post(base, json={"agent_type": "workout"}, headers=auth)
        assert created.status_code == 201, created.text
        status_url = f"{base}/{created.json()['room_name']}"
        states: list[str] = []
        deadline = time.monotonic() + AGENT_JOIN_DEADLINE_S
        while time.monotonic() < deadline:
            status = http.get(status_url, headers=auth)
            assert status.status_code == 200, status.text
            states.append(status.json()["agent_state"])
            if states[-1] == "joined":
                break
            time.sleep(0.25)
        assert states[-1] == "joined", states
        assert set(states) <= {"pending", "joined"}, states
        assert http.delete(status_url, headers=auth).status_code == 200


def test_sigterm_leaves_neither_livekit_server_nor_the_agent_worker_running(
    served: tuple[subprocess.Popen[str], int, list[str]],
) -> None:
    process, port, _ = served
    wait_until_serving(port)
    children = descendants(process.pid)
    commands = {Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ") for pid in children}
    assert any(b"--node-ip 127.0.0.1" in c for c in commands), commands  # livekit-server
    assert any(b"devtools.agent_worker" in c for c in commands), commands
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if alive(pid)]


def test_a_taken_port_is_refused_before_any_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = serve(port, tmp_path)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert f"127.0.0.1:{port} is already in use" in err
    assert "voicecore API" not in out
