"""METRICS_PORT: /metrics on a listener of its own, and only there; several workers share it (issue 23).

The real service in a subprocess against the real LiveKit server, as production runs it.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.apps import service_container
from tests.support.constants import BASE, CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from tests.support.livekit import unique_user_id
from tests.support.service_process import running_service, service_environment
from tests.support.tokens import auth_header
from voicecore.settings import SettingsError
from voicecore.testing.livekit_server import LocalLiveKitServer
from voicecore.testing.processes import free_port, log_tail, spawn, stop, wait_until_ready
from voicecore.testing.redis_server import LocalRedisServer
from voicecore_http.app import create_app

# The shared LiveKit server holds other tests' rooms, which the start-up repair indexes: the
# live-session gauge is compared with itself before, and no later repair pass changes it meanwhile.
ONLY_START_UP_REPAIR = {"SESSION_RECONCILE_INTERVAL_SECONDS": "0"}


def gauge(text: str, sample: str) -> float:
    found = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    assert found is not None, text
    return float(found.group(1))


def test_metrics_are_served_on_their_own_port_and_not_on_the_api_s(
    livekit_server: LocalLiveKitServer, tmp_path: Path
) -> None:
    port = free_port()
    with running_service(tmp_path, livekit_server, METRICS_PORT=str(port), **ONLY_START_UP_REPAIR) as service:
        metrics = f"http://127.0.0.1:{port}"
        live_before = gauge(httpx.get(metrics + "/metrics").text, "voicecore_live_sessions")
        assert httpx.get(service.base_url + "/metrics").status_code == 404
        # The listener serves /metrics and nothing else.
        assert httpx.get(metrics + "/healthz").status_code == 404
        assert httpx.get(metrics + BASE, headers=auth_header("someone")).status_code == 404
        assert httpx.post(metrics + "/metrics").status_code == 405
        user = unique_user_id("metrics-port")
        created = httpx.post(service.base_url + BASE, json={"agent_type": "diet"}, headers=auth_header(user))
        assert created.status_code == 201
        # The same process's counts and the same store, whichever port serves them.
        scraped = httpx.get(metrics + "/metrics").text
        assert gauge(scraped, "voicecore_live_sessions") == live_before + 1
        assert gauge(scraped, 'voicecore_sessions_started_total{agent_type="diet"}') == 1
        room = created.json()["room_name"]
        assert httpx.delete(f"{service.base_url}{BASE}/{room}", headers=auth_header(user)).status_code == 200
        process = service.process
    # Stopped with the API, on its SIGTERM (no SIGKILL needed), and the port is free again.
    assert process.returncode == -signal.SIGTERM
    assert "Application shutdown complete" in service.log_text()
    with pytest.raises(httpx.ConnectError):
        httpx.get(metrics + "/metrics")


def test_a_metrics_port_already_taken_stops_the_start_up(
    livekit_server: LocalLiveKitServer, tmp_path: Path
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with (
            pytest.raises(RuntimeError, match="exited early") as raised,
            running_service(tmp_path, livekit_server, METRICS_PORT=str(port)),
        ):
            pass
    assert f"METRICS_PORT {port}" in str(raised.value)


def test_a_metrics_port_with_metrics_turned_off_is_refused() -> None:
    container = service_container(
        CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET, METRICS_PORT="9100", METRICS_ENABLED="false"
    )
    with pytest.raises(SettingsError) as raised:
        create_app(container)
    assert raised.value.invalid == ("METRICS_PORT: set while METRICS_ENABLED is false",)


def test_several_workers_share_the_metrics_port_in_multiprocess_mode(
    livekit_server: LocalLiveKitServer, empty_redis: LocalRedisServer, tmp_path: Path
) -> None:
    """uvicorn --workers 2 with PROMETHEUS_MULTIPROC_DIR: both start, and any scrape merges both."""
    api_port, metrics_port = free_port(), free_port()
    merged = tmp_path / "prometheus"
    merged.mkdir()
    env = service_environment(
        livekit_server,
        SESSION_STORE_URL=empty_redis.url,
        METRICS_PORT=str(metrics_port),
        PROMETHEUS_MULTIPROC_DIR=str(merged),
        JOURNAL_URL=f"sqlite:///{tmp_path / 'journal.sqlite3'}",
        **ONLY_START_UP_REPAIR,
    )
    # The workers share one journal file: its schema is made first, not by both at once.
    migrate = [sys.executable, "-m", "voicecore_http", "migrate"]
    assert subprocess.run(migrate, env=env, cwd=tmp_path, capture_output=True, check=False).returncode == 0
    log = tmp_path / "workers.log"
    argv = [sys.executable, "-m", "uvicorn", "--factory", "voicecore_http.app:create_app"]
    argv += ["--workers", "2", "--host", "127.0.0.1", "--port", str(api_port)]
    process = spawn(argv, log, env=env, cwd=tmp_path)
    base = f"http://127.0.0.1:{api_port}"

    def both_started() -> bool:
        try:
            healthy = httpx.get(base + "/healthz").status_code == 200
        except httpx.TransportError:
            return False
        return healthy and log.read_text().count("Application startup complete") == 2

    try:
        wait_until_ready(
            process,
            both_started,
            timeout=60,
            what="two workers",
            log_tail=lambda: log_tail(log),
        )
        live_before = gauge(
            httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text, "voicecore_live_sessions"
        )
        users = [unique_user_id("worker") for _ in range(4)]
        for user in users:  # new connections: the kernel spreads them over the workers
            answer = httpx.post(base + BASE, json={"agent_type": "general"}, headers=auth_header(user))
            assert answer.status_code == 201
        scrapes = [httpx.get(f"http://127.0.0.1:{metrics_port}/metrics") for _ in range(12)]
    finally:
        stop(process, timeout=20)
    assert [s.status_code for s in scrapes] == [200] * 12
    for scrape in scrapes:
        assert gauge(scrape.text, 'voicecore_sessions_started_total{agent_type="general"}') == len(users)
        assert gauge(scrape.text, "voicecore_live_sessions") == live_before + len(users)
    text = log.read_text()
    assert "Application startup failed" not in text
    assert len(set(re.findall(r"Started server process \[(\d+)\]", text))) == 2
